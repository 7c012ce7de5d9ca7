"""Documentation that cannot rot. Every `make` target, script flag, DVC flag and params key that
README.md and docs/ name exists; every params key is documented in docs/pipeline.md; and each
block marked as tested runs, in a copy of the project, by the HTML comment on the line above it:

    <!-- tested -->              every `$ command` of the ```console block below exits 0
    <!-- tested: output -->      and prints exactly the lines shown under it
    <!-- output of `command` --> the block below, fences included, is what `command` prints
    <!-- tested: python -->      the ```python block below runs as written, in a directory that
                                 holds a model.onnx and the pictures of docs/examples
    <!-- tested: in a new project -->  every `$ command` of the ```console block below exits 0 in
                                 a new copy of the project (the committed params, pointed at tiny
                                 data), as in a fresh clone
"""

import argparse
import ast
import dataclasses
import itertools
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydantic
import pytest
from dvc.cli.parser import get_main_parser

from stages.shared import fashion_mnist
from tests.helpers import photos
from tests.helpers.imports import STAGES
from tests.helpers.project import REPO, committed_params
from tests.helpers.repo import Repo, make_repo
from tests.helpers.tiny import make_tiny_source
from tools import images, params_reference

DOCS = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
PARAMS_REFERENCE = REPO / "docs/params.md"
MARKERS = ("<!-- tested -->", "<!-- tested: output -->")
PYTHON_MARKER = "<!-- tested: python -->"
NEW_PROJECT_MARKER = "<!-- tested: in a new project -->"
OUTPUT_OF = re.compile(r"<!-- output of `(.+)` -->")
SCRIPT_PACKAGES = ("stages", "tools", "bench")
# A code span that names a file, not a params key: `train.py`, `params.yaml`.
FILE_SUFFIX = re.compile(r"\.(py|ya?ml|json|csv|tsv|npz|keras|png|md)\b")
# A key of params.yaml or of dataset.yaml (the data set's sources and checksums), dotted.
PARAMS_KEY = re.compile(r"^(download|preprocess|train|evaluate|predict|dataset)(\.[a-z0-9_]+)+")
FENCE = re.compile(r"^( *)```(\w*)\n(.*?)^\1```", re.M | re.S)


@dataclasses.dataclass(frozen=True)
class Block:
    """A fenced code block: where it is, its language, its text and the marker line above it."""

    where: str
    language: str
    text: str
    marker: str


def read_blocks(path: Path) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    blocks = []
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        above = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
        body = "\n".join(row.removeprefix(match[1]) for row in match[3].splitlines())
        blocks.append(Block(f"{path.relative_to(REPO)}:{line}", match[2], body, above))
    return blocks


def read_spans(path: Path) -> list[str]:
    """The inline code spans of a Markdown file (outside its fenced blocks)."""
    return re.findall(r"`([^`\n]+)`", FENCE.sub("", path.read_text(encoding="utf-8")))


def block_commands(block: Block) -> list[str]:
    """The shell commands of a block: the `$ ` lines of a console block, every line of a shell
    block (continuation lines joined); other languages hold none."""
    if block.language == "console":
        return [line[2:] for line in block.text.splitlines() if line.startswith("$ ")]
    if block.language in ("sh", "bash", "shell"):
        return [line for line in block.text.replace("\\\n", " ").splitlines() if line.strip()]
    return []


def simple_commands(line: str) -> Iterator[list[str]]:
    """The simple commands of a shell line, as words: split at ; && || |, comments dropped,
    leading VAR=value assignments and `time` removed."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    words: list[str] = []
    for token in [*lexer, ";"]:
        if set(token) <= set(";&|"):
            while words and (re.fullmatch(r"[A-Z_]+=.*", words[0]) or words[0] == "time"):
                words.pop(0)
            if words:
                yield words
            words = []
        else:
            words.append(token)


def every_command() -> Iterator[tuple[str, list[str]]]:
    """(where, words) of every command in the docs: in their blocks, and in code spans that
    start with `make `, `dvc ` or `python -m `."""
    for path in DOCS:
        for block in read_blocks(path):
            for line in block_commands(block):
                for words in simple_commands(line):
                    yield block.where, words
        for span in read_spans(path):
            if re.match(r"(make|dvc|python -m) ", span):
                for words in simple_commands(span.replace("…", "")):
                    yield str(path.relative_to(REPO)), words


def flag_names(words: list[str]) -> set[str]:
    return {word.split("=")[0] for word in words if re.match(r"--?[A-Za-z]", word)}


def makefile() -> tuple[set[str], str]:
    """The Makefile's targets, and its text."""
    text = (REPO / "Makefile").read_text()
    return set(re.findall(r"^([a-z0-9-]+):", text, re.M)), text


def script_flags(module: str) -> set[str]:
    """The option strings that module `module` (e.g. tools.classify) gives argparse, read with
    ast: importing it could start TensorFlow."""
    path = REPO / (module.replace(".", "/") + ".py")
    if not path.is_file():  # a package run as a command: its __main__.py
        path = REPO / module.replace(".", "/") / "__main__.py"
    assert path.is_file(), f"no module {module}"
    return {
        argument.value
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument"
        for argument in node.args
        if isinstance(argument, ast.Constant) and str(argument.value).startswith("-")
    } | {"-h", "--help"}


def dvc_subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return actions[0].choices if actions else {}


def dvc_options(words: list[str]) -> tuple[str, set[str]]:
    """The DVC command that `words` (after `dvc`) runs, and the options it accepts."""
    parser, path = get_main_parser(), ["dvc"]
    for word in words:
        if word not in dvc_subcommands(parser):
            break
        parser = dvc_subcommands(parser)[word]
        path.append(word)
    return " ".join(path), {o for action in parser._actions for o in action.option_strings}


def every_dvc_option(parser: argparse.ArgumentParser) -> set[str]:
    options = {o for action in parser._actions for o in action.option_strings}
    return options.union(*map(every_dvc_option, dvc_subcommands(parser).values()))


def params_keys() -> set[str]:
    """Every key of params.yaml and dataset.yaml that the stages read, dotted
    (train.plateau.factor, dataset.sources)."""

    def keys(model: type[pydantic.BaseModel], prefix: str) -> Iterator[str]:
        for name, field in model.model_fields.items():
            hint = field.annotation
            if isinstance(hint, type) and issubclass(hint, pydantic.BaseModel):
                yield from keys(hint, f"{prefix}.{name}")
            else:
                yield f"{prefix}.{name}"

    models = (*params_reference.SECTIONS, *params_reference.DATASET)
    return {key for model in models for key in keys(model, model.section)}


def named_params_keys() -> Iterator[tuple[str, str]]:
    """(where, key) of every params key named in a code span or in a `-S key=value`."""
    for path in DOCS:
        for span in read_spans(path):
            match = PARAMS_KEY.match(span)
            if match and not FILE_SUFFIX.search(span):
                yield str(path.relative_to(REPO)), match[0]
    for where, words in every_command():
        for flag, value in itertools.pairwise(words):
            if flag in ("-S", "--set-param"):
                yield where, value.split("=")[0]


def test_every_make_target_and_variable_named_in_the_docs_exists():
    targets, text = makefile()
    for where, words in every_command():
        if words[0] == "make":
            for word in words[1:]:
                if "=" in word:
                    assert f"$({word.split('=')[0]})" in text, (where, word)
                elif not word.startswith("-"):
                    assert word in targets, f"{where}: `make {word}`: no such target"


def test_make_help_lists_every_target_once_in_a_group():
    targets, _ = makefile()
    result = subprocess.run(["make", "-s", "help"], cwd=REPO, capture_output=True, text=True)
    listed = re.findall(r"^  make (\S+) +\S", result.stdout, re.M)
    assert sorted(listed) == sorted(targets - {".PHONY"})
    groups = re.findall(r"^(\S.*):$", result.stdout, re.M)
    assert groups == ["Daily use", "Working as a team", "Maintenance"]


def github_slug(heading: str) -> str:
    """The anchor GitHub (and MkDocs' toc) gives a heading: lower case, punctuation dropped."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_the_readme_links_to_pages_and_headings_that_exist():
    readme = (REPO / "README.md").read_text()
    links = re.findall(r"\]\(((?:docs|metrics)/[^)#]+)(?:#([^)]+))?\)", readme)
    assert len(links) > 10
    for target, anchor in links:
        assert (REPO / target).exists(), f"README links to {target}, which does not exist"
        if anchor:
            headings = re.findall(r"^#+ (.+)$", (REPO / target).read_text(), re.M)
            assert anchor in map(github_slug, headings), f"README: no heading {target}#{anchor}"


def test_every_page_of_the_docs_that_the_code_names_exists():
    sources = [REPO / name for name in ("Makefile", "params.yaml", "dvc.yaml", ".ci/run")]
    for package in (*SCRIPT_PACKAGES, "presets", "tests"):
        sources += sorted((REPO / package).glob("*.*"))
    named = [(s, page) for s in sources for page in re.findall(r"docs/[\w-]+\.md", s.read_text())]
    assert named
    for source, page in named:
        assert (REPO / page).is_file(), f"{source.relative_to(REPO)} names {page}: no such page"


def test_every_flag_of_a_script_or_dvc_named_in_the_docs_exists():
    checked = 0
    for where, words in every_command():
        name = Path(words[0]).name
        module = re.fullmatch(r"(stages|tools|bench)\.\w+", words[2]) if len(words) > 2 else None
        if words[:2] == ["python", "-m"] and module:  # not `stages.<name>`, a placeholder
            command, allowed, options = f"python -m {words[2]}", script_flags(words[2]), words[3:]
            if words[2] == "tools.remote":  # `push -r other`: what it does not know goes to DVC
                allowed |= dvc_options(words[3:4])[1]
        elif name == "dvc":
            (command, allowed), options = dvc_options(words[1:]), words[1:]
        else:
            continue
        unknown = flag_names(options) - allowed
        assert not unknown, f"{where}: `{command}` has no option {', '.join(sorted(unknown))}"
        checked += 1
    assert checked > 40  # the docs are full of commands: finding few means the parsing broke


def test_a_flag_named_alone_is_an_option_of_a_script_or_of_dvc():
    scripts = [
        ".".join(path.relative_to(REPO).with_suffix("").parts)
        for package in SCRIPT_PACKAGES
        for path in (REPO / package).glob("*.py")
        if "def main(" in path.read_text()
    ] + [f"stages.{stage}" for stage in STAGES]  # a stage's flags (`--dataset`), its __main__
    known = every_dvc_option(get_main_parser()).union(*map(script_flags, scripts))
    for path in DOCS:
        for span in read_spans(path):
            if re.fullmatch(r"--[a-z][a-z0-9-]*", span):
                assert span in known, f"{path.name}: `{span}` is an option of no script nor DVC"


def test_every_params_key_named_in_the_docs_exists():
    keys = params_keys()
    named = list(named_params_keys())
    assert len(named) > 50
    for where, key in named:
        assert any(k == key or k.startswith(f"{key}.") for k in keys), f"{where}: no key {key}"


def test_every_params_key_is_documented_in_the_params_reference():
    documented = {
        match[0] for span in read_spans(PARAMS_REFERENCE) if (match := PARAMS_KEY.match(span))
    }
    missing = sorted(params_keys() - documented)
    assert not missing, f"{PARAMS_REFERENCE.name} does not document {', '.join(missing)}"


def new_project_blocks() -> list[Block]:
    return [
        block for path in DOCS for block in read_blocks(path) if block.marker == NEW_PROJECT_MARKER
    ]


def marked_blocks() -> list[Block]:
    return [
        block
        for path in DOCS
        for block in read_blocks(path)
        if block.marker in MARKERS or OUTPUT_OF.fullmatch(block.marker)
    ]


def test_the_tested_blocks_are_console_blocks_of_commands():
    blocks = [block for block in marked_blocks() if block.marker in MARKERS]
    blocks += new_project_blocks()
    assert len(blocks) >= 5
    for block in blocks:
        assert block.language == "console" and block.text.startswith("$ "), block.where


@pytest.fixture(scope="module")
def project(tmp_path_factory, tiny_source, tiny_run) -> Repo:
    """The project as committed (params, dvc.lock, metrics) in a temporary git repository,
    with the tiny model where the pipeline keeps its model."""
    repo = make_repo(tmp_path_factory.mktemp("docs") / "project", tiny_source)
    for name in ("params.yaml", "dvc.lock", "Makefile"):
        shutil.copy(REPO / name, repo.root / name)
    for directory in ("metrics", "presets", "docs/examples"):
        shutil.copytree(REPO / directory, repo.root / directory)
    repo.commit("as committed")
    (repo.root / "data/model").mkdir(parents=True)
    shutil.copy(tiny_run.model, repo.root / "data/model/model.keras")
    shutil.copy(tiny_run.onnx, repo.root / "data/model/model.onnx")
    return repo


def lines(text: str) -> list[str]:
    """The lines of a command's output or of a block, as compared: trailing spaces aside."""
    return [line.rstrip() for line in text.rstrip("\n").splitlines()]


@pytest.mark.parametrize("block", marked_blocks(), ids=lambda block: block.where)
def test_a_tested_block_runs(project, block):
    """Each command runs in bash, in the project's copy, and must exit 0; with an output marker,
    its standard output must be what the block shows."""
    if output_of := OUTPUT_OF.fullmatch(block.marker):
        fenced = f"```{block.language}\n{block.text}\n```"
        runs = [(output_of[1], fenced)]
    else:
        chunks = re.split(r"^\$ (.*)\n?", block.text, flags=re.M)[1:]
        runs = list(zip(chunks[::2], chunks[1::2], strict=True))
    for command, shown in runs:
        result = project.attempt("bash", "-c", command)
        assert result.returncode == 0, f"{block.where}: `{command}` failed:\n{result.stderr}"
        if block.marker != "<!-- tested -->":
            assert lines(result.stdout) == lines(shown), (
                f"{block.where}: `{command}` now prints:\n{result.stdout}"
            )


@pytest.fixture
def new_project(tmp_path) -> Repo:
    """A new copy of the project as a clone holds it, with its presets and Makefile, and this
    environment as its `.venv`. Its params are the committed ones, pointed at tiny data (120
    training images per class, so that a subset of 100 fits) but with the committed
    `preprocess` section: 5,000 validation images, more than the tiny data holds."""
    source = make_tiny_source(tmp_path / "source", train_per_class=120)
    repo = make_repo(tmp_path / "project", source)
    repo.set_params("preprocess", **committed_params()["preprocess"])
    shutil.copy(REPO / "Makefile", repo.root / "Makefile")
    shutil.copytree(REPO / "presets", repo.root / "presets")
    (repo.root / ".venv").symlink_to(sys.prefix)
    with open(repo.root / ".git/info/exclude", "a", encoding="utf-8") as exclude:
        exclude.write(".venv\n")  # a link: the .gitignore's `/.venv/` names a folder
    repo.commit("the committed preprocess params, the presets and the Makefile")
    return repo


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.parametrize("block", new_project_blocks(), ids=lambda block: block.where)
def test_a_block_runs_in_a_new_project(new_project, block):
    for command in block_commands(block):
        result = new_project.attempt("bash", "-c", command)
        assert result.returncode == 0, f"{block.where}: `{command}` failed:\n{result.stderr}"


def garment_box(image: np.ndarray) -> np.ndarray:
    """The first and last rows and columns of a 28×28 image where the garment is brighter than
    a quarter of full scale."""
    rows, cols = np.nonzero(image > 64)
    return np.array([rows.min(), rows.max(), cols.min(), cols.max()])


@pytest.mark.parametrize("backdrop", photos.BACKGROUNDS)
def test_the_standalone_block_trims_a_photo_to_its_garment(
    tmp_path, monkeypatch, capsys, tiny_run, backdrop
):
    """The ONNX block of docs/own-images.md, run as written on photos rendered from the garments
    of docs/examples on `backdrop`: what it gives the model is the garment, trimmed to it (each
    edge within 2 pixels) and like it, not the frame (a sneaker on light grey with a shadow was
    once a Bag)."""
    (block,) = [b for b in read_blocks(REPO / "docs/own-images.md") if b.marker == PYTHON_MARKER]
    shutil.copy(tiny_run.onnx, tmp_path / "model.onnx")
    monkeypatch.chdir(tmp_path)
    for picture in sorted((REPO / "docs/examples").iterdir()):
        garment = images.to_fashion_mnist(images.open_image(picture))  # on white: faithful
        photo = photos.render_photo(garment, backdrop, seed=photos.BACKGROUNDS.index(backdrop))
        photo.save(tmp_path / "sneaker-phone.jpg", quality=90)  # the file the block opens
        namespace: dict = {}
        exec(block.text, namespace)
        name, probability = capsys.readouterr().out.strip().rsplit(" ", 1)
        assert name in fashion_mnist.CLASS_NAMES and 0 < float(probability) <= 1
        seen = namespace["image"]
        assert seen.shape == (1, 28, 28) and seen.dtype == np.uint8
        offsets = np.abs(garment_box(seen[0]) - garment_box(garment))
        assert offsets.max() <= 2, f"{picture.name} on {backdrop}: edges off by {offsets}"
        likeness = np.corrcoef(seen[0].ravel(), garment.ravel())[0, 1]
        assert likeness > 0.7, f"{picture.name} on {backdrop}: correlation {likeness:.2f}"


def test_the_python_blocks_run_as_written(tmp_path, tiny_run):
    """Each marked Python block (the model used outside this repository) runs with a model.onnx
    and the example pictures beside it, and prints a class name and its probability."""
    blocks = [b for path in DOCS for b in read_blocks(path) if b.marker == PYTHON_MARKER]
    assert blocks
    shutil.copy(tiny_run.onnx, tmp_path / "model.onnx")
    for picture in (REPO / "docs/examples").iterdir():
        shutil.copy(picture, tmp_path / picture.name)
    for block in blocks:
        assert block.language == "python", block.where
        result = subprocess.run(
            [sys.executable, "-c", block.text], cwd=tmp_path, capture_output=True, text=True
        )
        assert result.returncode == 0, f"{block.where}:\n{result.stderr}"
        name, probability = result.stdout.strip().rsplit(" ", 1)
        assert name in fashion_mnist.CLASS_NAMES and 0 < float(probability) <= 1, result.stdout
