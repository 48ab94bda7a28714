"""The ``avatar-chat`` command line: render replies to MP4 in process, and manage models and
avatars. The top of the ``actors`` package: nothing else in it imports this one."""

from actors.cli.main import main

__all__ = ["main"]
