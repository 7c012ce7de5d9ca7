"""What the tests share, apart from pytest's fixtures (tests/conftest.py): tiny data (tiny.py), the
project and its files (project.py), copies of the project to run DVC in (repo.py), altered model
files (model_files.py) and free ports (ports.py)."""
