"""The interactive web app (``demo/app.py``): upload an image, type a vocabulary, see and
download the annotation. Everything but ``ui.py`` is plain Python (no gradio import), so the
service is testable and reusable without a web server."""
from ovperception.webapp.service import AnnotationService, AppResult, UserError
from ovperception.webapp.session import AppSession
from ovperception.webapp.tasks import TASKS, TaskSpec, configs_for_task, default_configs

__all__ = ['AnnotationService', 'AppResult', 'AppSession', 'TASKS', 'TaskSpec', 'UserError',
           'configs_for_task', 'default_configs']
