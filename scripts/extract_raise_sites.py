"""Regenerate datasets_schema/sd_scripts_raise_sites.json from sd-scripts' own raise and assert statements.

Run with any Python 3.10+ (it only parses the source, it imports nothing of sd-scripts):
    python scripts/extract_raise_sites.py /path/to/sd-scripts [--commit SHA] [--out FILE]
Recorded per site, as facts of the source: file, line, enclosing function (and class), exception type, the
English half of the message as a template and as a regex, an error the code logs right before a bare re-raise,
and the failure kind a rule below maps the site to; and the functions whose name says what a failure inside them
is about (scopes). The Japanese halves are not copied. Line numbers are those of the checkout as `kohya-wrap
backend install` leaves it: kohya-wrap's shipped patches (vendor/patches) are applied to a copy first when the
checkout given is pristine, so the table is the same for a pristine and an installed checkout.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCAN = ("train_network.py", "sdxl_train_network.py", "library", "networks")
CJK = re.compile(r"[\u3000-\u30ff\u3400-\u9fff\uff00-\uffef]")
HOLE = "\x00"  # stands for a formatted value while a template is built
SAMPLING_FUNCS = re.compile(r"^(sample_images?\w*|sample_image_inference|line_to_prompt_dict|get_my_scheduler)$")
IMAGE_FUNCS = re.compile(r"^(load_image\w*|load_images_and_masks_for_caching|trim_and_resize_if_required|"
                         r"cache_batch_latents|load_arbitrary_dataset_image\w*)$")
DATASET_FUNCS = re.compile(r"^(read_caption|load_dreambooth_dir|load_\w*metadata\w*|process_caption|"
                           r"make_buckets|register_image|add_replacement)$")
ARG_FUNCS = re.compile(r"^(verify_\w+|assert_extra_args|prepare_\w+|get_optimizer\w*|get_scheduler\w*|"
                       r"check_\w+|_check_\w+|add_\w*arguments|read_config_from_file|patch_\w+)$")
MODEL_FUNCS = re.compile(r"^(_?load_target_model|load_models_from_sdxl_checkpoint|load_checkpoint_with_\w+|"
                         r"_?load_\w*(?:unet|vae|text_encoder|clip|state_dict|safetensors)\w*|convert_\w*checkpoint\w*|"
                         r"load_file|load_safetensors\w*)$")
TOKENIZER_FUNCS = re.compile(r"^(_?load_\w*tokenizers?\w*|get_tokenize_strategy)$")
NETWORK_FUNCS = re.compile(r"^(create_network\w*|get_block_\w+|parse_\w+|__init__)$")
MISSING = re.compile(r"not found|does not exist|doesn't exist|no such file|not exist|missing", re.I)


def english(template: str) -> str:
    """The English half of sd-scripts' bilingual messages: "English / 日本語: value" on one line, or an English
    line followed by a Japanese one."""
    lines = [_english_line(line) for line in template.split("\n")]
    english_lines = [line for line in lines if not CJK.search(line)]
    return " ".join(line.strip() for line in english_lines if line.strip()) if english_lines else lines[0]


def _english_line(template: str) -> str:
    """The English half of a bilingual "English / 日本語" message, with a trailing value of the Japanese half."""
    for match in re.finditer(r" / ", template):
        rest = template[match.end():]
        if CJK.search(rest[:40]):
            head = template[:match.start()].rstrip()
            tail = re.search(r"[:：]\s*([^:：]*)$", rest)
            if tail and tail[1].strip() and not CJK.search(tail[1]):
                head += ": " + tail[1].strip()
            return head
    return template


def template_of(node: ast.AST) -> str | None:
    """A message expression as text with HOLE for every formatted value; None when it is not built from literals."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(part.value if isinstance(part, ast.Constant) else HOLE for part in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = template_of(node.left), template_of(node.right)
        if left is None and right is None:
            return None
        return (left if left is not None else HOLE) + (right if right is not None else HOLE)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        text = template_of(node.left)
        return re.sub(r"%[-#0 +]*\d*(?:\.\d+)?[sdifrxg]", HOLE, text) if text is not None else None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        text = template_of(node.func.value)
        return re.sub(r"\{[^{}]*\}", HOLE, text) if text is not None else None
    return None


def pattern_of(text: str) -> str:
    """A regex of a template: literal text escaped, every formatted value a lazy group."""
    parts = [re.escape(part) for part in text.split(HOLE)]
    return "(.+?)".join(parts).replace("\\ ", " ")


def exception_name(node: ast.AST | None) -> str | None:
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Name):
        return target.id
    if isinstance(target, ast.Attribute):
        return target.attr
    return None


def logged_before(body: list[ast.stmt], index: int) -> str | None:
    """The message of a logger.error/print call just before a statement (the error a bare re-raise explains)."""
    for stmt in reversed(body[:index]):
        call = stmt.value if isinstance(stmt, ast.Expr) else None
        if isinstance(call, ast.Call) and isinstance(call.func, (ast.Attribute, ast.Name)):
            name = call.func.attr if isinstance(call.func, ast.Attribute) else call.func.id
            if name in ("error", "exception", "critical", "warning", "print") and call.args:
                return template_of(call.args[0])
        return None
    return None


class Sites(ast.NodeVisitor):
    """Walks one file, keeping the enclosing class and function of every raise and assert."""

    def __init__(self, relative: str, arg_names: set[str]):
        self.relative, self.arg_names = relative, arg_names
        self.stack: list[tuple[str, str]] = []  # ("class"|"def", name)
        self.found: list[dict] = []
        self.scopes: list[dict] = []

    def _scope(self, kind: str, node) -> None:
        self.stack.append((kind, node.name))
        self.generic_visit(node)
        self.stack.pop()

    def visit_ClassDef(self, node):
        self._scope("class", node)

    def visit_FunctionDef(self, node):
        cls = next((name for kind, name in reversed(self.stack) if kind == "class"), None)
        kind = scope_kind(self.relative, node.name, cls)
        if kind is not None:
            self.scopes.append({"file": self.relative, "function": node.name, "class": cls, "start": node.lineno,
                                "end": node.end_lineno, "kind": kind})
        self._scope("def", node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def generic_visit(self, node):
        for field in ("body", "orelse", "finalbody", "handlers"):
            body = getattr(node, field, None)
            if isinstance(body, list):
                for index, stmt in enumerate(body):
                    if isinstance(stmt, ast.Raise):
                        self._raise(stmt, body, index)
                    elif isinstance(stmt, ast.Assert):
                        self._assert(stmt)
        super().generic_visit(node)

    def _raise(self, node: ast.Raise, body: list, index: int) -> None:
        exc = node.exc
        name = exception_name(exc)
        message = template_of(exc.args[0]) if isinstance(exc, ast.Call) and exc.args else None
        bare = exc is None or isinstance(exc, ast.Name) and exc.id.islower()  # `raise` / `raise e`
        self._add(node.lineno, None if bare else name, message, logged_before(body, index) if bare else None)

    def _assert(self, node: ast.Assert) -> None:
        message = template_of(node.msg) if node.msg is not None else None
        self._add(node.lineno, "AssertionError", message, None)

    def _add(self, line: int, exception: str | None, message: str | None, logged: str | None) -> None:
        function = next((name for kind, name in reversed(self.stack) if kind == "def"), None)
        cls = next((name for kind, name in reversed(self.stack) if kind == "class"), None)
        site = {"file": self.relative, "line": line, "function": function, "class": cls,
                "exception": exception, "english": None, "pattern": None, "logged": None, "logged_pattern": None}
        if message is not None and message.replace(HOLE, "").strip():
            site["english"] = english(message).replace(HOLE, "{}")
            site["pattern"] = pattern_of(english(message))
        if logged is not None and logged.replace(HOLE, "").strip():
            site["logged"] = english(logged).replace(HOLE, "{}")
            site["logged_pattern"] = pattern_of(english(logged))
        site["kind"] = kind_of(site, self.arg_names)
        self.found.append(site)


def scope_kind(file: str, function: str, cls: str | None) -> str | None:
    """What a failure anywhere inside this function is about (so a frame in it names the cause)."""
    cls = cls or ""
    if SAMPLING_FUNCS.match(function):
        return "sampling_failed"
    if file == "library/config_util.py":
        return "bad_dataset_config"
    if IMAGE_FUNCS.match(function):
        return "corrupt_image"
    if TOKENIZER_FUNCS.match(function):
        return "missing_file"
    if MODEL_FUNCS.match(function) and not file.startswith("networks/"):
        return "bad_model"
    if DATASET_FUNCS.match(function) or cls.endswith(("Dataset", "Subset", "DatasetGroup")):
        return "bad_dataset"
    if file.startswith("networks/") and NETWORK_FUNCS.match(function) and (function != "__init__" or "Network" in cls):
        return "bad_network_args"
    if function in ("get_optimizer", "get_scheduler_fix", "get_optimizer_train_eval_fn") or function.startswith("verify_"):
        return "bad_arg"
    return None


def kind_of(site: dict, arg_names: set[str]) -> str | None:
    """The failure kind a site stands for, by where it is and what it says (first rule that applies)."""
    file, function, cls = site["file"], site["function"] or "", site["class"] or ""
    text = " ".join(filter(None, (site["english"], site["logged"])))
    if site["exception"] in ("ImportError", "ModuleNotFoundError") or re.search(r"\binstall", text):
        return "backend_import"
    if re.search(r"internal error", text, re.I):
        return None
    if re.search(r"out of memory|OutOfMemory", text):
        return "oom"
    if SAMPLING_FUNCS.match(function):
        return "sampling_failed"
    if file == "library/config_util.py":
        return "bad_dataset_config"
    if IMAGE_FUNCS.match(function):
        return "corrupt_image" if site["exception"] in (None, "OSError", "IOError") else "bad_dataset"
    if DATASET_FUNCS.match(function) or cls.endswith(("Dataset", "Subset", "DatasetGroup")):
        return "missing_file" if MISSING.search(text) and "caption" not in text else "bad_dataset"
    if text and MISSING.search(text) and re.search(r"file|dir|path|folder|model|checkpoint", text, re.I):
        return "missing_file"
    words = set(re.findall(r"[a-z][a-z0-9_]+", text))
    if ARG_FUNCS.match(function) or words & arg_names or re.search(r"--\w", text):
        return "bad_arg"
    if file.startswith("networks/"):
        return "bad_network_args"
    return None


def scan(root: Path, arg_names: set[str]) -> tuple[list[dict], list[dict]]:
    sites: list[dict] = []
    scopes: list[dict] = []
    for entry in SCAN:
        path = root / entry
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for file in files:
            relative = file.relative_to(root).as_posix()
            visitor = Sites(relative, arg_names)
            visitor.visit(ast.parse(file.read_text(encoding="utf-8"), filename=relative))
            sites += sorted(visitor.found, key=lambda s: s["line"])
            scopes += visitor.scopes
    return scopes, [site for site in sites if site["english"] or site["logged"] or site["kind"]]  # else nothing to know


def as_installed(root: Path, into: Path) -> list[str]:
    """Copy the scanned files into `into` and apply the shipped patches not applied yet; returns their names."""
    sys.path.insert(0, str(ROOT))
    from kohya_wrap.backend import patches

    for entry in SCAN:
        source = root / entry
        if source.is_dir():
            shutil.copytree(source, into / entry, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, into / entry)
    statuses = [s for s in patches.plan_patches(into) if s.patch.file.split("/")[0] in SCAN]
    patches.apply_patches(into, [s for s in statuses if s.status == patches.NOT_APPLIED])
    return [s.patch.name for s in statuses]


def git_commit(root: Path) -> str | None:
    try:
        return subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip() or None
    except (OSError, subprocess.CalledProcessError):
        return None


def dumps(table: dict) -> str:
    """One site per line: small, and a diff of two commits shows the sites that changed."""
    head = json.dumps({key: value for key, value in table.items() if key not in ("scopes", "sites")})[:-1]
    for key in ("scopes", "sites"):
        lines = [json.dumps(item, ensure_ascii=False, separators=(",", ":")) for item in table[key]]
        head += f', "{key}": [\n' + ",\n".join(lines) + "\n]"
    return head + "}\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sd_scripts", type=Path)
    parser.add_argument("--commit", help="commit of the checkout (default: git rev-parse HEAD)")
    parser.add_argument("--out", type=Path, default=ROOT / "datasets_schema" / "sd_scripts_raise_sites.json")
    args = parser.parse_args(argv)
    arg_table = json.loads((ROOT / "datasets_schema" / "sd_scripts_args.json").read_text(encoding="utf-8"))
    arg_names = {name for name in arg_table["args"] if "_" in name}  # one-word names match ordinary words
    with tempfile.TemporaryDirectory() as tmp:
        applied = as_installed(args.sd_scripts.resolve(), Path(tmp))
        scopes, sites = scan(Path(tmp), arg_names)
    table = {"commit": args.commit or git_commit(args.sd_scripts), "patches": applied, "scanned": list(SCAN),
             "generated_by": "scripts/extract_raise_sites.py", "scopes": scopes, "sites": sites}
    args.out.write_text(dumps(table), encoding="utf-8")
    kinds: dict[str, int] = {}
    for site in sites:
        kinds[str(site["kind"])] = kinds.get(str(site["kind"]), 0) + 1
    sys.stdout.write(f"{len(scopes)} scopes, {len(sites)} sites -> {args.out}: {json.dumps(kinds, sort_keys=True)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
