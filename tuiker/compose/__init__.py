"""`tuiker compose`: compose files read as the compose-spec says (loader.py, interpolate.py) into a Project
(project.py), run on the engine by Compose (runner.py). A client of the engine like the CLI: it imports only
tuiker.engine, tuiker.base and tuiker.fmt; the CLI prints what it reports.

    project = load(["compose.yaml"], project_name=None, profiles=["debug"])
    Compose(Engine(), project, report=print_event).up(detach=True)"""

from tuiker.compose.loader import ComposeError, load
from tuiker.compose.project import Project
from tuiker.compose.runner import Compose, number_of, service_of

__all__ = ["Compose", "ComposeError", "Project", "load", "number_of", "service_of"]
