from nlpcli.cli import entry_point

entry_point()
