"""What the tests share, apart from pytest's fixtures (tests/conftest.py): tiny data (tiny.py), the
project and its files (project.py), copies of the project to run DVC in (repo.py), altered model
files (model_files.py), free ports (ports.py), the code's imports read with ast (imports.py),
photos of garments on backdrops (photos.py) and image files in the formats Pillow reads but
cannot write (image_seeds.py)."""
