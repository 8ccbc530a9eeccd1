"""Optional coverage-guided fuzzing with atheris; see fuzz_loaders.py. Not collected by pytest."""
