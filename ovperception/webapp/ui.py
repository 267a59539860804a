"""The gradio page of the web app (the only module importing gradio)."""
from __future__ import annotations

import os
import tempfile
from typing import Any

import gradio as gr

from ovperception.annotation import DATASET_FORMATS
from ovperception.webapp.service import AnnotationService, AppResult, UserError
from ovperception.webapp.session import AppSession
from ovperception.webapp.summaries import TABLE_HEADERS
from ovperception.webapp.tasks import CONFIG_ROOT, TASKS

#: How long an idle session keeps its images and files (seconds).
SESSION_TTL = 3600
CLICK_MODES = ('inspect', 'foreground point', 'background point', 'box corner')
EXAMPLES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), 'demo', 'examples')

HELP = """### ovperception — open-vocabulary annotation
Upload or drop an image (or pick an example), type the words to look for (comma separated,
synonyms with `;`, e.g. `cat, sofa; couch`), pick the task and press **Run**. Change only the
words and run again: the image is not encoded again. Hover the *interactive* view to see each
region's class and score; click a region for details. With a SAM checkpoint, click points (or
two box corners) on the input image and press **refine with SAM**."""


def _close(session: AppSession | None) -> None:
    if session is not None:
        session.close()


def build_app(service: AnnotationService, upload_root: str | None = None) -> gr.Blocks:
    """The page: inputs, overlay, interactive view, table, downloads, SAM refinement.

    Args:
        service: runs the tasks; shared by all sessions.
        upload_root: parent of the per-session folders (default: a new temporary folder).
    """
    root = upload_root or tempfile.mkdtemp(prefix='ovperception-app-')
    os.makedirs(root, exist_ok=True)

    def session_of(state: AppSession | None) -> AppSession:
        return state if state is not None else AppSession.create(root)

    def guarded(call, state: AppSession | None, *args: Any):
        """Run ``call(session, *args)``; user errors become a message in the page."""
        session = session_of(state)
        try:
            return session, call(session, *args)
        except UserError as error:
            if state is None:
                session.close()
            raise gr.Error(str(error), print_exception=False) from None

    def result_outputs(session: AppSession, result: AppResult) -> tuple:
        names = service.class_names(session)
        return (session, result.overlay, (session.last.image, result.regions), result.message,
                result.rows, result.files,
                gr.update(choices=names, value=names[0] if names else None))

    def run(state, image, vocabulary, task, config, threshold, formats):
        session, result = guarded(service.run, state, image, vocabulary, task, config,
                                  threshold if threshold not in (None, '') else None,
                                  list(formats or ()))
        return result_outputs(session, result)

    def refine(state, class_name):
        session, result = guarded(service.refine, state, class_name)
        return result_outputs(session, result)

    def config_choices(task: str) -> list[tuple[str, str]]:
        """(label relative to configs/, path) pairs of the task's configs."""
        return [(os.path.relpath(path, CONFIG_ROOT) if path.startswith(CONFIG_ROOT) else path,
                 path) for path in service.configs(task)]

    def on_task(task):
        spec = TASKS[task]
        return (gr.update(choices=config_choices(task), value=service.defaults[task]),
                gr.update(placeholder=spec.vocabulary_hint),
                gr.update(visible=task == 'anomaly'))

    def show_input(path):
        if not path:
            return None
        try:
            return service.read_image(path)[0]
        except UserError as error:
            gr.Warning(str(error))
            return None

    def on_region(state, event: gr.SelectData):
        return f'{event.value}' if event is not None else ''

    def on_image_click(state, mode, event: gr.SelectData):
        x, y = event.index[:2]
        return click(state, mode, x, y)

    def click(state, mode, x, y):
        if mode == 'inspect':
            return guarded(service.inspect, state, x, y)
        return guarded(service.add_prompt, state, x, y, mode)

    with gr.Blocks(title='ovperception', analytics_enabled=False,
                   delete_cache=(600, SESSION_TTL)) as app:
        state = gr.State(None, time_to_live=SESSION_TTL, delete_callback=_close)
        gr.Markdown(HELP)
        with gr.Row():
            with gr.Column(scale=1):
                image = gr.File(label='image: upload or drop', file_types=['image'],
                                type='filepath', elem_id='upload')
                examples = sorted(os.path.join(EXAMPLES_DIR, name) for name in
                                  os.listdir(EXAMPLES_DIR) if name.endswith('.png')) \
                    if os.path.isdir(EXAMPLES_DIR) else []
                if examples:
                    gr.Examples(examples=examples, inputs=image)
                preview = gr.Image(label='input (click: inspect / SAM prompts)',
                                   interactive=False, elem_id='input-image')
                vocabulary = gr.Textbox(label='vocabulary', elem_id='vocabulary',
                                        placeholder=TASKS['semantic'].vocabulary_hint)
                task = gr.Radio([(spec.label, key) for key, spec in TASKS.items()],
                                value='semantic', label='task', elem_id='task')
                config = gr.Dropdown(config_choices('semantic'),
                                     value=service.defaults['semantic'], label='model config',
                                     allow_custom_value=False)
                threshold = gr.Number(label='anomaly threshold (optional)', visible=False)
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
                files = gr.File(label='downloads', file_count='multiple', elem_id='downloads')
                with gr.Accordion('refine with SAM', open=False):
                    mode = gr.Radio(list(CLICK_MODES), value='inspect',
                                    label='a click on the input image')
                    sam_class = gr.Dropdown([], label='class of the clicked object')
                    refine_button = gr.Button('refine with SAM')
        outputs = [state, overlay, regions, status, table, files, sam_class]
        inputs = [state, image, vocabulary, task, config, threshold, formats]
        run_button.click(run, inputs, outputs, api_name='run')
        vocabulary.submit(run, inputs, outputs, api_name=False)
        task.change(on_task, [task], [config, vocabulary, threshold], api_name=False)
        image.change(show_input, [image], [preview], api_name=False)
        preview.select(on_image_click, [state, mode], [state, clicked], api_name=False)
        regions.select(on_region, [state], [clicked], api_name=False)
        refine_button.click(refine, [state, sam_class], outputs, api_name='refine')
        # The same clicks for API clients (and tests): pixel coordinates of the input image.
        click_x, click_y = gr.Number(visible=False), gr.Number(visible=False)
        click_button = gr.Button(visible=False)
        click_button.click(click, [state, mode, click_x, click_y], [state, clicked],
                           api_name='click')
    return app
