"""The gradio page of the web app (the only module importing gradio)."""
from __future__ import annotations

import os
import tempfile
from typing import Any, Callable

import gradio as gr

from ovperception.annotation import DATASET_FORMATS
from ovperception.webapp.service import AnnotationService, AppResult, UserError
from ovperception.webapp.session import AppSession, SessionStore
from ovperception.webapp.summaries import TABLE_HEADERS
from ovperception.webapp.tasks import TASKS, config_choices

#: How long an idle session keeps its images and files (seconds); closing the page removes
#: them at once.
SESSION_TTL = 1800
#: Disk budget of all sessions' folders together (least recently used sessions go first).
DEFAULT_MAX_SESSION_BYTES = 2 << 30
SAM_MODES = ('foreground point', 'background point', 'box corner')
EXAMPLES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), 'demo', 'examples')
IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.webp')

HELP = """### ovperception — open-vocabulary annotation
Upload or drop an image (or pick an example), type the words to look for (comma separated,
synonyms with `;`, e.g. `cat, sofa; couch`), pick the task and press **Run**. Change only the
words and run again: the image is not encoded again. Click the *interactive* view (or the
input) to see the class and score there."""
SAM_OFF = ('SAM refinement is off: restart the app with `--sam-checkpoint sam_vit_b_01ec64.pth` '
           '(get it with `python tools/download_weights.py --sam vit_b`, see docs/weights.md).')
SAM_ON = ('Choose a click mode, click points (or two box corners) on the input image, choose '
          'the class and press **refine with SAM**.')


def example_images(folder: str = EXAMPLES_DIR) -> list[str]:
    """Example images under ``folder`` (any depth, any common image type), sorted."""
    found = [os.path.join(parent, name) for parent, _, names in os.walk(folder)
             for name in names if name.lower().endswith(IMAGE_SUFFIXES)]
    return sorted(found)


def build_app(service: AnnotationService, upload_root: str | None = None,
              max_session_bytes: int = DEFAULT_MAX_SESSION_BYTES) -> gr.Blocks:
    """The page: inputs, overlay, interactive view, table, downloads, SAM refinement.

    Args:
        service: runs the tasks; shared by all sessions.
        upload_root: parent of the per-session folders (default: a new temporary folder).
        max_session_bytes: disk budget of all sessions' folders together.
    """
    store = SessionStore(upload_root or tempfile.mkdtemp(prefix='ovperception-app-'),
                         max_bytes=max_session_bytes, ttl_s=SESSION_TTL)
    keep = gr.update()  # an output left as it is

    def session_of(request: gr.Request) -> AppSession:
        return store.get(request.session_hash or 'api')

    def shown(request: gr.Request, call: Callable[..., AppResult], *args: Any,
              sam_choice: str | None = None) -> tuple:
        """Run ``call(session, *args)``: its result, or - for a user error - the previous
        result left in place and the message in the status line."""
        key = request.session_hash or 'api'
        try:
            result = call(store.get(key), *args)
        except UserError as error:
            return keep, keep, f'error: {error}', keep, keep, keep
        store.enforce_budget(keep=key)
        names = service.class_names(session_of(request))
        choice = sam_choice if sam_choice in names else (names[0] if names else None)
        view = result.view
        return (result.overlay,
                gr.update(value=(view.image, view.regions), color_map=view.colors),
                result.message, result.rows, result.files,
                gr.update(choices=names, value=choice))

    def run(image, vocabulary, task, config=None, threshold='', formats=('coco',),
            downscale=False, sam_choice=None, request: gr.Request = None):
        return shown(request, service.run, image, vocabulary, task, config, threshold,
                     list(formats or ()), bool(downscale), sam_choice=sam_choice)

    def refine(sam_choice, request: gr.Request = None):
        return shown(request, service.refine, sam_choice, sam_choice=sam_choice)

    def calibrate(normal_images, vocabulary, config, request: gr.Request):
        paths = [getattr(f, 'name', f) for f in (normal_images or [])]
        try:
            threshold, message = service.calibrate(session_of(request), paths, vocabulary,
                                                   config)
        except UserError as error:
            return keep, f'error: {error}'
        return f'{threshold:.6f}', message

    def click(mode, x, y, request: gr.Request):
        try:
            if mode == 'inspect' or not service.sam_enabled:
                return service.inspect(session_of(request), x, y)
            return service.add_prompt(session_of(request), x, y, mode)
        except UserError as error:
            return f'error: {error}'

    def on_task(task):
        return (gr.update(choices=config_choices(service.configs(task)),
                          value=service.defaults[task]),
                gr.update(placeholder=TASKS[task].vocabulary_hint),
                gr.update(visible=task == 'anomaly'))

    def show_input(path, downscale):
        if not path:
            return None, keep
        try:
            return service.read_image(path, bool(downscale))[0], keep
        except UserError as error:
            return None, f'error: {error}'

    def on_image_click(mode, event: gr.SelectData, request: gr.Request):
        x, y = event.index[:2]
        return click(mode, x, y, request)

    def on_region(event: gr.SelectData):
        return f'{event.value}' if event is not None else ''

    def on_unload(request: gr.Request):
        store.close(request.session_hash or 'api')

    sam_modes = ['inspect'] + (list(SAM_MODES) if service.sam_enabled else [])
    with gr.Blocks(title='ovperception', analytics_enabled=False) as app:
        gr.Markdown(HELP)
        with gr.Row():
            with gr.Column(scale=1):
                image = gr.File(label='image: upload or drop', file_types=['image'],
                                type='filepath', elem_id='upload')
                examples = example_images() if os.path.isdir(EXAMPLES_DIR) else []
                if examples:
                    gr.Examples(examples=examples, inputs=image)
                preview = gr.Image(label='input (click: inspect / SAM prompts)',
                                   interactive=False, elem_id='input-image')
                vocabulary = gr.Textbox(label='vocabulary', elem_id='vocabulary',
                                        placeholder=TASKS['semantic'].vocabulary_hint)
                task = gr.Radio([(spec.label, key) for key, spec in TASKS.items()],
                                value='semantic', label='task', elem_id='task')
                config = gr.Dropdown(config_choices(service.configs('semantic')),
                                     value=service.defaults['semantic'], label='model config',
                                     allow_custom_value=False, elem_id='config')
                with gr.Group(visible=False) as anomaly_group:
                    threshold = gr.Textbox(
                        value='', elem_id='threshold',
                        label="anomaly threshold (empty: the model's calibrated threshold)")
                    normal_images = gr.File(label='normal images to calibrate the threshold on',
                                            file_count='multiple', file_types=['image'],
                                            elem_id='normal-images')
                    calibrate_button = gr.Button('calibrate on the normal images')
                downscale = gr.Checkbox(
                    False, elem_id='downscale',
                    label=f'downscale large images (over {service.max_pixels / 1e6:.0f} MP)')
                formats = gr.CheckboxGroup(
                    [(f'{name}: {spec.description}', name)
                     for name, spec in DATASET_FORMATS.items()],
                    value=['coco'], label='dataset formats in the downloads')
                run_button = gr.Button('Run', variant='primary', elem_id='run')
            with gr.Column(scale=1):
                with gr.Tab('overlay'):
                    overlay = gr.Image(type='filepath', label='result', interactive=False,
                                       elem_id='overlay')
                with gr.Tab('interactive'):
                    regions = gr.AnnotatedImage(label='hover a region: class and score',
                                                elem_id='regions')
                status = gr.Textbox(label='status', interactive=False, elem_id='status')
                clicked = gr.Textbox(label='clicked', interactive=False, elem_id='clicked')
                table = gr.Dataframe(headers=TABLE_HEADERS, label='classes', interactive=False)
                files = gr.File(label='downloads', file_count='multiple', elem_id='downloads',
                                interactive=False)
                with gr.Accordion('refine with SAM', open=service.sam_enabled):
                    gr.Markdown(SAM_ON if service.sam_enabled else SAM_OFF, elem_id='sam-note')
                    mode = gr.Radio(sam_modes, value='inspect', elem_id='sam-mode',
                                    label='a click on the input image',
                                    interactive=service.sam_enabled)
                    sam_class = gr.Dropdown([], label='class of the clicked object',
                                            elem_id='sam-class', interactive=service.sam_enabled)
                    refine_button = gr.Button('refine with SAM', elem_id='refine',
                                              interactive=service.sam_enabled)
        outputs = [overlay, regions, status, table, files, sam_class]
        inputs = [image, vocabulary, task, config, threshold, formats, downscale, sam_class]
        run_button.click(run, inputs, outputs, api_name='run')
        vocabulary.submit(run, inputs, outputs, api_name=False)
        task.change(on_task, [task], [config, vocabulary, anomaly_group], api_name=False)
        image.change(show_input, [image, downscale], [preview, status], api_name=False)
        preview.select(on_image_click, [mode], [clicked], api_name=False)
        regions.select(on_region, None, [clicked], api_name=False)
        refine_button.click(refine, [sam_class], outputs, api_name='refine')
        calibrate_button.click(calibrate, [normal_images, vocabulary, config],
                               [threshold, status], api_name='calibrate')
        # The same clicks for API clients (and tests): pixel coordinates of the input image.
        click_x, click_y = gr.Number(visible=False), gr.Number(visible=False)
        click_button = gr.Button(visible=False)
        click_button.click(click, [mode, click_x, click_y], [clicked], api_name='click')
        app.unload(on_unload)
    app.session_store = store  # for the app's shutdown and tests
    return app
