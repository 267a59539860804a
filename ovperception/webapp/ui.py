"""The gradio page of the web app (the only module importing gradio)."""
from __future__ import annotations

import os
import tempfile
from typing import Any, Callable

import gradio as gr

from ovperception.annotation import DATASET_FORMATS
from ovperception.utils.image_files import is_image_name
from ovperception.webapp.annotated import draw_prompts, view_shape
from ovperception.webapp.service import AnnotationService, AppResult, UserError
from ovperception.webapp.session import AppSession, SessionStore
from ovperception.webapp.summaries import TABLE_HEADERS
from ovperception.webapp.tasks import TASKS

#: How long an idle session keeps its images and files (seconds); closing the page removes
#: them at once.
SESSION_TTL = 1800
#: Disk budget of all sessions' folders together (least recently used sessions go first).
DEFAULT_MAX_SESSION_BYTES = 2 << 30
SAM_MODES = ('foreground point', 'background point', 'box corner')
EXAMPLES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), 'demo', 'examples')

HELP = """### ovperception — open-vocabulary annotation
Upload or drop an image (or pick an example), type the words to look for (comma separated,
synonyms with `;`, e.g. `cat, sofa; couch`), pick the task and press **Run**. Change only the
words and run again: the image is not encoded again. Hover or click the *interactive* view
(or click the input) to see the class and score there."""
SAM_OFF = ('SAM refinement is off: restart the app with `--sam-checkpoint sam_vit_b_01ec64.pth` '
           '(get it with `python tools/download_weights.py --sam vit_b`, see docs/weights.md).')
SAM_ON = ('Choose a click mode and click points on the input image, or drag a box on it (or '
          'click two box corners), choose the class and press **refine with SAM**.')

CSS = ('.hidden-input {display: none !important}\n'
       '#downloads .label-clear-button {display: none !important}')
#: Hovering (throttled) or clicking the interactive view reports the point as fractions of the
#: image to the hidden #view-point box, whose input event asks the server what lies there.
VIEW_JS = """() => {
  let last = 0;
  const report = (event, always) => {
    const hit = event.target.closest ? event.target.closest('#regions img') : null;
    if (!hit) return;
    const img = hit.closest('#regions').querySelector('img.base-image') || hit;
    if (!img.naturalWidth) return;
    const now = Date.now();
    if (!always && now - last < 200) return;
    last = now;
    const box = img.getBoundingClientRect();
    const fit = getComputedStyle(img).objectFit;
    let scale = Math.min(box.width / img.naturalWidth, box.height / img.naturalHeight);
    if (fit === 'scale-down') scale = Math.min(scale, 1);
    let w = box.width, h = box.height;
    if (fit === 'contain' || fit === 'scale-down') {
      w = img.naturalWidth * scale;
      h = img.naturalHeight * scale;
    }
    const fx = (event.clientX - box.left - (box.width - w) / 2) / w;
    const fy = (event.clientY - box.top - (box.height - h) / 2) / h;
    if (fx < 0 || fy < 0 || fx > 1 || fy > 1) return;
    const field = document.querySelector('#view-point textarea, #view-point input');
    if (!field) return;
    field.value = fx.toFixed(5) + ',' + fy.toFixed(5);
    field.dispatchEvent(new Event('input', {bubbles: true}));
  };
  document.addEventListener('mousemove', (event) => report(event, false));
  document.addEventListener('click', (event) => report(event, true));

  // SAM box by drag on the input image: a dashed rectangle follows the pointer, and on release
  // the corners (fractions of the image) go to the hidden #box-drag box, whose change event
  // sets the box on the server; the click that ends a drag is not a point.
  const inputImage = (target) => target && target.closest ? target.closest('#input-image img') : null;
  const fraction = (img, x, y) => {
    const box = img.getBoundingClientRect();
    let scale = Math.min(box.width / img.naturalWidth, box.height / img.naturalHeight);
    if (getComputedStyle(img).objectFit === 'scale-down') scale = Math.min(scale, 1);
    const w = img.naturalWidth * scale, h = img.naturalHeight * scale;
    const left = box.left + (box.width - w) / 2, top = box.top + (box.height - h) / 2;
    const clamp = (v) => Math.min(1, Math.max(0, v));
    return [clamp((x - left) / w), clamp((y - top) / h), left, top, w, h];
  };
  let drag = null, outline = null, swallowClick = false;
  const dropOutline = () => { if (outline) { outline.remove(); outline = null; } };
  document.addEventListener('dragstart', (event) => {
    if (inputImage(event.target)) event.preventDefault();
  }, true);
  document.addEventListener('mousedown', (event) => {
    swallowClick = false;
    const img = inputImage(event.target);
    if (!img || event.button !== 0 || !img.naturalWidth) return;
    dropOutline();
    drag = {img: img, x: event.clientX, y: event.clientY, moved: false};
  }, true);
  document.addEventListener('mousemove', (event) => {
    if (!drag) return;
    if (!drag.moved && Math.abs(event.clientX - drag.x) + Math.abs(event.clientY - drag.y) < 6) return;
    drag.moved = true;
    const [, , left, top, w, h] = fraction(drag.img, event.clientX, event.clientY);
    const clampX = (v) => Math.min(left + w, Math.max(left, v));
    const clampY = (v) => Math.min(top + h, Math.max(top, v));
    const x0 = clampX(Math.min(drag.x, event.clientX)), x1 = clampX(Math.max(drag.x, event.clientX));
    const y0 = clampY(Math.min(drag.y, event.clientY)), y1 = clampY(Math.max(drag.y, event.clientY));
    if (!outline) {
      outline = document.createElement('div');
      outline.id = 'box-outline';
      outline.style.cssText = 'position:fixed;border:2px dashed #ffd200;background:rgba(255,210,0,0.18);pointer-events:none;z-index:1000';
      document.body.appendChild(outline);
    }
    outline.style.left = x0 + 'px'; outline.style.top = y0 + 'px';
    outline.style.width = (x1 - x0) + 'px'; outline.style.height = (y1 - y0) + 'px';
  }, true);
  document.addEventListener('mouseup', (event) => {
    if (!drag) return;
    const start = drag;
    drag = null;
    if (!start.moved) return;  // a click: gradio's select event takes it
    swallowClick = true;
    const a = fraction(start.img, start.x, start.y), b = fraction(start.img, event.clientX, event.clientY);
    const field = document.querySelector('#box-drag textarea, #box-drag input');
    if (field) {
      field.value = [a[0], a[1], b[0], b[1]].map((v) => v.toFixed(5)).join(',') + ',' + Date.now();
      field.dispatchEvent(new Event('input', {bubbles: true}));
    }
    setTimeout(dropOutline, 1500);  // the preview then shows the box itself
  }, true);
  document.addEventListener('click', (event) => {
    if (swallowClick && inputImage(event.target)) {
      event.stopPropagation();
      event.preventDefault();
    }
    swallowClick = false;
  }, true);
}"""


def background_note(config: str, service: AnnotationService | None = None) -> str:
    """The words the config reserves as background (shown next to the vocabulary)."""
    words = service.background_words(config) if service is not None else ()
    if not words:
        return ''
    return ('*background words of this model (not to be used as class names): '
            + ', '.join(words) + '*')


def example_images(folder: str = EXAMPLES_DIR) -> list[str]:
    """Example images under ``folder`` (any depth, any common image type), sorted."""
    found = [os.path.join(parent, name) for parent, _, names in os.walk(folder)
             for name in names if is_image_name(name)]
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
            downscale=False, sam_choice=None, score_threshold=0.0, top_k=0,
            request: gr.Request = None):
        return shown(request, service.run, image, vocabulary, task, config, threshold,
                     list(formats or ()), bool(downscale), score_threshold, top_k,
                     sam_choice=sam_choice)

    def refilter(score_threshold=0.0, top_k=0, sam_choice=None, request: gr.Request = None):
        """The detection threshold or top-k changed: filter the last result again (no model
        run); nothing changes before a detection result exists."""
        last = session_of(request).last
        if last is None or last.unfiltered is None:
            return (keep,) * 6
        return shown(request, service.filter_detections, score_threshold, top_k,
                     sam_choice=sam_choice)

    def refine(sam_choice, request: gr.Request = None):
        return shown(request, service.refine, sam_choice, sam_choice=sam_choice)

    def calibrate(normal_images, vocabulary, config, request: gr.Request):
        paths = [getattr(f, 'name', f) for f in (normal_images or [])]
        try:
            threshold, message = service.calibrate(session_of(request), paths, vocabulary,
                                                   config)
        except UserError as error:
            return keep, f'error: {error}'
        return ('' if threshold is None else f'{threshold:.6f}'), message

    def click(mode, x, y, request: gr.Request = None):
        try:
            if mode == 'inspect' or not service.sam_enabled:
                return service.inspect(session_of(request), x, y)
            return service.add_prompt(session_of(request), x, y, mode)
        except UserError as error:
            return f'error: {error}'

    def with_markers(message: str, request: gr.Request) -> tuple:
        """(preview with the SAM prompts and mask drawn, message)."""
        try:
            view = service.prompt_view(session_of(request))
        except UserError as error:
            return keep, f'error: {error}'
        return (keep if view is None else view), message

    def current_preview(request: gr.Request):
        return with_markers('', request)[0]

    def undo(request: gr.Request):
        try:
            return with_markers(service.undo_prompt(session_of(request)), request)
        except UserError as error:
            return keep, f'error: {error}'

    def clear(request: gr.Request):
        return with_markers(service.clear_prompts(session_of(request)), request)

    def inspect_view(point, request: gr.Request):
        """A hover or click on the interactive view: ``point`` = "fx,fy" fractions of it."""
        session = session_of(request)
        if not point or session.last is None:
            return keep
        try:
            fx, fy = (float(v) for v in point.split(',')[:2])
        except ValueError:
            return keep
        height, width = session.last.image.shape[:2]
        return click('inspect', min(int(fx * width), width - 1), min(int(fy * height), height - 1),
                     request)

    def on_task(task):
        return (gr.update(choices=service.config_choices(task),
                          value=service.defaults[task]),
                gr.update(placeholder=service.vocabulary_hint(task, service.defaults[task])),
                gr.update(visible=task == 'anomaly'), gr.update(visible=task == 'detection'))

    def show_input(path, downscale):
        if not path:
            return None, keep
        try:
            return draw_prompts(service.read_image(path, bool(downscale))[0], []), keep
        except UserError as error:
            return None, f'error: {error}'

    def on_image_click(mode, event: gr.SelectData, request: gr.Request):
        """A click on the input view (view pixels, scaled back to the input's)."""
        session = session_of(request)
        x, y = event.index[:2]
        if session.last is not None:
            height, width = session.last.image.shape[:2]
            view_height, view_width = view_shape((height, width))
            x, y = x * width / view_width, y * height / view_height
        message = click(mode, x, y, request)
        if mode == 'inspect' or message.startswith('error'):
            return keep, message
        return with_markers(message, request)

    def on_box_drag(value, request: gr.Request):
        """A box dragged on the input view: ``value`` = "fx0,fy0,fx1,fy1,stamp" fractions."""
        session = session_of(request)
        if not value or session.last is None:
            return keep, keep
        try:
            fx0, fy0, fx1, fy1 = (float(v) for v in value.split(',')[:4])
        except ValueError:
            return keep, keep
        height, width = session.last.image.shape[:2]
        try:
            message = service.set_box(session, fx0 * width, fy0 * height, fx1 * width,
                                      fy1 * height)
        except UserError as error:
            return keep, f'error: {error}'
        return with_markers(message, request)

    def on_region(event: gr.SelectData):
        return f'{event.value}' if event is not None else ''

    def on_unload(request: gr.Request):
        store.close(request.session_hash or 'api')

    sam_modes = ['inspect'] + (list(SAM_MODES) if service.sam_enabled else [])
    with gr.Blocks(title='ovperception', analytics_enabled=False) as app:
        gr.Markdown(HELP)
        with gr.Row():
            with gr.Column(scale=2, min_width=320):
                image = gr.File(label='image: upload or drop', file_types=['image'],
                                type='filepath', elem_id='upload', height=110)
                vocabulary = gr.Textbox(label='vocabulary', elem_id='vocabulary',
                                        placeholder=service.vocabulary_hint(
                                            'semantic', service.defaults['semantic']))
                background = gr.Markdown(background_note(service.defaults['semantic'], service),
                                         elem_id='background')
                task = gr.Radio([(spec.label, key) for key, spec in TASKS.items()],
                                value='semantic', label='task', elem_id='task')
                config = gr.Dropdown(service.config_choices('semantic'),
                                     value=service.defaults['semantic'], label='model',
                                     allow_custom_value=False, elem_id='config')
                with gr.Group(visible=False) as anomaly_group:
                    threshold = gr.Textbox(
                        value='', elem_id='threshold',
                        label="anomaly threshold (empty: the model's calibrated threshold)")
                    normal_images = gr.File(label='normal images to calibrate the threshold on',
                                            file_count='multiple', file_types=['image'],
                                            elem_id='normal-images', height=110)
                    calibrate_button = gr.Button('calibrate on the normal images', size='sm')
                with gr.Row(visible=False) as detection_group:
                    score_threshold = gr.Slider(0.0, 1.0, value=0.0, step=0.01, scale=3,
                                                label='detection score threshold',
                                                elem_id='score-threshold')
                    top_k = gr.Number(0, precision=0, minimum=0, scale=1, elem_id='top-k',
                                      label='top-k (0: all)')
                run_button = gr.Button('Run', variant='primary', elem_id='run')
                with gr.Accordion('options', open=False):
                    downscale = gr.Checkbox(
                        False, elem_id='downscale',
                        label=f'downscale large images (over {service.max_pixels / 1e6:.0f} MP)')
                    formats = gr.CheckboxGroup(
                        [(f'{name}: {spec.description}', name)
                         for name, spec in DATASET_FORMATS.items()],
                        value=['coco'], label='dataset formats in the downloads')
                examples = example_images() if os.path.isdir(EXAMPLES_DIR) else []
                if examples:
                    gr.Examples(examples=examples, inputs=image, examples_per_page=8)
            with gr.Column(scale=3):
                # no label or buttons over the images: they would cover the overlay's text
                with gr.Tab('overlay'):
                    overlay = gr.Image(type='filepath', show_label=False, interactive=False,
                                       elem_id='overlay', buttons=[], height=460)
                with gr.Tab('interactive'):
                    regions = gr.AnnotatedImage(show_label=False, elem_id='regions',
                                                buttons=[], height=460)
                    view_point = gr.Textbox(elem_id='view-point', elem_classes=['hidden-input'],
                                            container=False, show_label=False)
                with gr.Tab('input & SAM', elem_id='sam-tab'):
                    with gr.Row():
                        with gr.Column(scale=3):
                            preview = gr.Image(show_label=False, interactive=False,
                                               elem_id='input-image', buttons=[], height=420)
                            box_drag = gr.Textbox(elem_id='box-drag', container=False,
                                                  elem_classes=['hidden-input'],
                                                  show_label=False)
                        with gr.Column(scale=2, min_width=200):
                            gr.Markdown(SAM_ON if service.sam_enabled else SAM_OFF,
                                        elem_id='sam-note')
                            mode = gr.Radio(sam_modes, value='inspect', elem_id='sam-mode',
                                            label='a click on the input image',
                                            interactive=service.sam_enabled)
                            sam_class = gr.Dropdown([], label='class of the clicked object',
                                                    elem_id='sam-class',
                                                    interactive=service.sam_enabled)
                            undo_button = gr.Button('undo last click', elem_id='undo',
                                                    interactive=service.sam_enabled, size='sm')
                            clear_button = gr.Button('clear clicks', elem_id='clear',
                                                     interactive=service.sam_enabled, size='sm')
                            refine_button = gr.Button('refine with SAM', elem_id='refine',
                                                      interactive=service.sam_enabled,
                                                      variant='primary', size='sm')
                with gr.Row():
                    status = gr.Textbox(label='status', interactive=False, elem_id='status',
                                        scale=3)
                    clicked = gr.Textbox(label='clicked / hovered', interactive=False,
                                         elem_id='clicked', scale=2)
                with gr.Row():
                    table = gr.Dataframe(headers=TABLE_HEADERS, label='classes',
                                         interactive=False, max_height=260, scale=1)
                    files = gr.File(label='downloads', file_count='multiple',
                                    elem_id='downloads', interactive=False, scale=1)
        outputs = [overlay, regions, status, table, files, sam_class]
        inputs = [image, vocabulary, task, config, threshold, formats, downscale, sam_class,
                  score_threshold, top_k]
        run_button.click(run, inputs, outputs, api_name='run').then(
            current_preview, None, [preview], api_name=False)
        vocabulary.submit(run, inputs, outputs, api_name=False).then(
            current_preview, None, [preview], api_name=False)
        task.change(on_task, [task], [config, vocabulary, anomaly_group, detection_group],
                    api_name=False)
        filter_inputs = [score_threshold, top_k, sam_class]
        score_threshold.release(refilter, filter_inputs, outputs, api_name='filter_detections')
        top_k.submit(refilter, filter_inputs, outputs, api_name=False)
        top_k.blur(refilter, filter_inputs, outputs, api_name=False)
        config.change(lambda path: background_note(path, service), [config], [background],
                      api_name=False)
        config.change(lambda path, task: gr.update(placeholder=service.vocabulary_hint(task, path)),
                      [config, task], [vocabulary], api_name=False)
        image.change(show_input, [image, downscale], [preview, status], api_name=False)
        preview.select(on_image_click, [mode], [preview, clicked], api_name=False)
        view_point.change(inspect_view, [view_point], [clicked], api_name=False,
                         trigger_mode='always_last', show_progress='hidden')
        box_drag.change(on_box_drag, [box_drag], [preview, clicked], api_name=False,
                        trigger_mode='always_last')
        undo_button.click(undo, None, [preview, clicked], api_name='undo')
        clear_button.click(clear, None, [preview, clicked], api_name='clear')
        regions.select(on_region, None, [clicked], api_name=False)
        refine_button.click(refine, [sam_class], outputs, api_name='refine').then(
            current_preview, None, [preview], api_name=False)
        calibrate_button.click(calibrate, [normal_images, vocabulary, config],
                               [threshold, status], api_name='calibrate')
        # The same clicks for API clients (and tests): pixel coordinates of the input image.
        click_x, click_y = gr.Number(visible=False), gr.Number(visible=False)
        click_button = gr.Button(visible=False)
        click_button.click(click, [mode, click_x, click_y], [clicked], api_name='click')
        app.unload(on_unload)
    app.session_store = store  # for the app's shutdown and tests
    app.launch_options = dict(css=CSS, js=VIEW_JS)  # gradio 6 takes page CSS/JS in launch()
    return app
