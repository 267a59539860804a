"""Tiny registry entries of the CRF post-processor (merged into ``tests.tiny.TINY``)."""
TINY: dict[str, dict] = {
    'DenseCRF': dict(type='DenseCRF', iter_max=2),
}
