"""Defaults live in the schema: no function or command-line option of the package states a
default for a config setting that disagrees with the schema's.

Every leaf of workflow/schemas/config.schema.yaml is walked; a parameter or a CLI option of
the same name with a literal default must have one of the schema's defaults for that name.
``None`` is accepted only where the function fills it from the schema (``filled`` or
``schema_defaults`` in its body). Names the code uses for something else are listed, each
with why.
"""

import ast
from pathlib import Path

from dramaemo.core.config import schema

PACKAGE = Path(__file__).resolve().parents[1] / "workflow" / "src" / "dramaemo"
# Names that in the code mean something other than the config leaf of that name.
OTHER_MEANING = {
    "threads": "a job's threads, which the rule passes from resources (0: the library's own)",
    "split": "the split's name (the {split} wildcard), not config split",
}


def schema_defaults_by_name() -> dict[str, list]:
    found: dict[str, list] = {}

    def walk(node, path):
        if "properties" in node:
            for key, child in node["properties"].items():
                walk(child, [*path, key])
        elif path and "default" in node:
            found.setdefault(path[-1], []).append(node["default"])

    walk(schema(), [])
    return found


def stated_defaults(tree):
    """(name, default node, enclosing function or None) of every parameter default and
    every argparse ``default=``."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            positional = args.posonlyargs + args.args
            pairs = list(zip(positional[len(positional) - len(args.defaults) :], args.defaults))
            pairs += [(arg, d) for arg, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
            for arg, default in pairs:
                yield arg.arg, default, node
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument":
            flags = [
                a.value for a in node.args if isinstance(a, ast.Constant) and str(a.value).startswith("--")
            ]
            for keyword in node.keywords:
                if keyword.arg == "default" and flags:
                    yield flags[0].lstrip("-").replace("-", "_"), keyword.value, None


def same(a, b) -> bool:
    normal = lambda v: list(v) if isinstance(v, tuple) else v  # noqa: E731
    return normal(a) == normal(b)


def disagreements() -> list[str]:
    defaults = schema_defaults_by_name()
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for name, node, function in stated_defaults(tree):
            if name not in defaults or name in OTHER_MEANING:
                continue
            try:
                value = ast.literal_eval(node)
            except ValueError:
                continue  # computed: from the schema (schema_defaults, a constant read from it)
            if (
                value is None
                and function is not None
                and any(
                    isinstance(call, ast.Call)
                    and getattr(call.func, "id", "") in ("filled", "schema_defaults")
                    for call in ast.walk(function)
                )
            ):
                continue
            if not any(same(value, schema_value) for schema_value in defaults[name]):
                found.append(
                    f"{path.relative_to(PACKAGE)}:{node.lineno}: {name}={value!r}, schema: "
                    + " or ".join(repr(v) for v in defaults[name])
                )
    return found


def test_no_default_in_the_code_disagrees_with_the_schema():
    assert schema_defaults_by_name()["min_score"] == [0.3]  # the walk reached the leaves
    assert not disagreements(), "\n".join(disagreements())


def test_the_walk_finds_a_disagreeing_default(tmp_path, monkeypatch):
    """The check itself: a parameter restating faces.blazeface.min_score wrongly is found."""
    module = tmp_path / "dramaemo" / "faces"
    module.mkdir(parents=True)
    (module / "wrong.py").write_text("def detect(*, min_score=0.5, threads=0):\n    return min_score\n")
    monkeypatch.setattr(f"{__name__}.PACKAGE", tmp_path / "dramaemo")
    assert disagreements() == ["faces/wrong.py:1: min_score=0.5, schema: 0.3"]
