from tuiker.cli.main import entry

entry()
