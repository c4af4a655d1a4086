"""What every layer stands on: errors, files and locks, settings, names, Linux calls."""
