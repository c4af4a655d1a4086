from tuiker.cli import entry

entry()
