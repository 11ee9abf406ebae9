"""Translations: every message has its French, with the same placeholders; the language follows the
locale variables as gettext reads them, and --lang forces it."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from packbuilder import i18n
from tests.conftest import ENGLISH, FIXTURES, ROOT, run_cli

PO = ROOT / "packbuilder" / "locale" / "fr" / "LC_MESSAGES" / "packbuilder.po"
# {name}, {name:>8}, {name!r}, %(name)s: named; {} {0} %s %d: positional, which a translator cannot move.
NAMED = re.compile(
    r"\{([A-Za-z_][A-Za-z0-9_]*)(?:![rsa])?(?::[^{}]*)?\}"  # {name}
    r"|%\(([A-Za-z_][A-Za-z0-9_]*)\)[-#0 +]*\d*(?:\.\d+)?[sdifr]"  # %(name)s
)
POSITIONAL = re.compile(r"\{\d*(?:![rsa])?(?::[^{}]*)?\}|%[-#0 +]*\d*(?:\.\d+)?[sdifr]")


def placeholders(text: str) -> set[str]:
    return {a or b for a, b in NAMED.findall(text)}


def positional(text: str) -> list[str]:
    without_named = NAMED.sub("", text.replace("{{", "").replace("}}", "").replace("%%", ""))
    return POSITIONAL.findall(without_named)


def source_messages() -> dict[str, tuple[str, ...]]:
    """Every message the code marks (_, ngettext, N_), as pybabel extract finds it with babel.cfg."""
    with (ROOT / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    found: dict[str, tuple[str, ...]] = {}
    for filename, _lineno, message, _comments, _context in extract_from_dir(str(ROOT), method_map, options_map):
        if not filename.startswith("packbuilder"):
            continue
        ids = (message,) if isinstance(message, str) else tuple(m for m in message if m)
        found[ids[0]] = ids
    return found


def problems(source: dict[str, tuple[str, ...]], po_path: Path) -> list[str]:
    """What is wrong between the code's messages and one .po: missing, untranslated, fuzzy,
    different placeholders, positional placeholders."""
    with po_path.open("rb") as fh:
        catalog = read_po(fh, locale="fr")
    out = []
    for key, ids in sorted(source.items()):
        for text in ids:
            if positional(text):
                out.append(f"{text!r}: positional placeholder {positional(text)}: name it ({{count}}, %(name)s)")
        entry = catalog.get(key)
        if entry is None:
            out.append(f"{key!r}: not in {po_path.name} (run make pot)")
            continue
        strings = [entry.string] if isinstance(entry.string, str) else list(entry.string)
        if entry.fuzzy or not all(strings):
            out.append(f"{key!r}: no French translation")
            continue
        expected = set().union(*(placeholders(t) for t in ids))
        for translated in strings:
            if placeholders(translated) != expected:
                out.append(f"{key!r}: placeholders {sorted(placeholders(translated))} in French, {sorted(expected)} in English")
    return out


def test_every_message_has_its_french_with_the_same_placeholders() -> None:
    source = source_messages()
    assert len(source) > 3  # the extraction found the code's messages
    assert problems(source, PO) == []


def test_the_check_catches_a_missing_translation_and_a_renamed_placeholder(tmp_path: Path) -> None:
    po = tmp_path / "fr.po"
    po.write_text(
        'msgid ""\nmsgstr ""\n"Language: fr\\n"\n\n'
        'msgid "{count} files"\nmsgstr "{nombre} fichiers"\n\n'
        'msgid "done"\nmsgstr ""\n\n'
        'msgid "%(name)s is ready"\nmsgstr "%(name)s est prêt"\n',
        encoding="utf-8",
    )
    source = {
        "{count} files": ("{count} files",),
        "done": ("done",),
        "%(name)s is ready": ("%(name)s is ready",),
        "{} x": ("{} x",),
    }
    found = problems(source, po)
    assert any("{count} files" in p and "placeholders" in p for p in found)
    assert any("'done': no French translation" in p for p in found)
    assert any("positional" in p for p in found)
    assert not any("is ready" in p for p in found)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"LANG": "fr_FR.UTF-8"}, "fr"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({"LANG": "C"}, "en"),
        ({}, "en"),
        ({"LANG": "de_DE.UTF-8"}, "en"),
        ({"LC_ALL": "fr_BE.UTF-8", "LANG": "C"}, "fr"),
        ({"LC_MESSAGES": "fr_CA.UTF-8", "LANG": "en_US.UTF-8"}, "fr"),
        ({"LC_ALL": "C.UTF-8", "LANG": "fr_FR.UTF-8"}, "en"),  # LC_ALL comes first
        ({"LANGUAGE": "de:fr:en", "LANG": "C"}, "fr"),  # the first language we have
        ({"LANGUAGE": "", "LANG": "fr_FR@euro"}, "fr"),  # an empty variable is skipped
    ],
)
def test_language_from_the_locale_variables(env: dict[str, str], expected: str) -> None:
    assert i18n.language_from_env(env) == expected


def test_lang_option_wins_over_the_locale() -> None:
    assert i18n.setup(["--lang", "fr", "plan"], {"LANG": "C"}) == "fr"
    assert i18n.setup(["--lang=en"], {"LANG": "fr_FR.UTF-8"}) == "en"
    assert i18n.setup(["plan", "--", "--lang", "fr"], {"LANG": "C"}) == "en"
    i18n.set_language("en")


def test_french_answers_under_french_only() -> None:
    i18n.set_language("fr")
    try:
        assert [i18n.parse_answer(a) for a in ("o", "OUI", "y", "n", "Non", "x")] == [True, True, True, False, False, None]
        assert i18n.parse_answer("", default=False) is False
    finally:
        i18n.set_language("en")
    assert i18n.parse_answer("o") is None
    assert i18n.parse_answer("yes") is True


def test_errors_and_hints_in_the_locale_language(tmp_path: Path) -> None:
    french = run_cli("plan", "no-such-pack", env={"LANG": "fr_FR.UTF-8"}, cwd=tmp_path)
    assert french.returncode == 2
    assert "erreur :" in french.stderr and "conseil :" in french.stderr
    english = run_cli("plan", "no-such-pack", env={"LANG": "C"}, cwd=tmp_path)
    assert english.returncode == 2
    assert "error:" in english.stderr and "hint:" in english.stderr and "erreur" not in english.stderr
    forced = run_cli("--lang", "fr", "plan", "no-such-pack", env={"LANG": "C"}, cwd=tmp_path)
    assert "erreur :" in forced.stderr
    by_language = run_cli("plan", "no-such-pack", env={"LANGUAGE": "fr", "LANG": "C.UTF-8"}, cwd=tmp_path)
    assert "erreur :" in by_language.stderr


@pytest.mark.parametrize(
    ("args", "french", "english"),
    [
        (["build", "--nope"], "option inconnue : --nope", "no such option: --nope"),
        (["nosuch"], "commande inconnue : nosuch", "no such command: nosuch"),
        (["plan"], "argument manquant : pack", "missing argument: pack"),
        (["build", "x", "--format", "tar"], "valeur incorrecte pour '--format' / '-f'", "invalid value for '--format' / '-f'"),
        (
            ["build", "x", "--jobs", "0"],
            "valeur incorrecte pour '--jobs' / '-j' : la valeur doit être supérieure ou égale à 1",
            "invalid value for '--jobs' / '-j': Input should be greater than or equal to 1",
        ),
    ],
)
def test_usage_errors_of_the_framework_in_the_locale_language(
    tmp_path: Path, args: list[str], french: str, english: str
) -> None:
    fr = run_cli(*args, env={"LANG": "fr_FR.UTF-8"}, cwd=tmp_path)
    assert fr.returncode == 2 and f"erreur : {french}" in fr.stderr, fr.stderr
    assert "conseil : voir : " in fr.stderr and "--help" in fr.stderr and "Error:" not in fr.stderr
    en = run_cli(*args, env={"LANG": "C"}, cwd=tmp_path)
    assert en.returncode == 2 and f"error: {english}" in en.stderr and "hint: see: " in en.stderr, en.stderr


def test_the_help_frame_in_the_locale_language(tmp_path: Path) -> None:
    fr = run_cli("build", "--help", env={"LANG": "fr_FR.UTF-8"}, cwd=tmp_path).stdout
    assert fr.startswith("Utilisation : ") and "Afficher cette aide et quitter." in fr and "Show this" not in fr
    top = run_cli("--help", env={"LANG": "fr_FR.UTF-8"}, cwd=tmp_path).stdout
    assert "\nCommandes:" in top or "\nCommandes :" in top
    en = run_cli("build", "--help", env={"LANG": "C"}, cwd=tmp_path).stdout
    assert en.startswith("Usage: ") and "Show this message and exit." in en


def test_bad_lang_value_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("--lang", "de", "profiles", "list", cwd=tmp_path)
    assert result.returncode == 2
    assert "fr or en" in result.stderr


def _flash_answering(answer: str, lang: str, folder: Path) -> subprocess.CompletedProcess[bytes]:
    """``flash IMAGE FILE`` with a terminal on standard input (a pty) that types ``answer``."""
    (folder / "image.img").write_bytes(b"\x55" * 65536)
    master, slave = pty.openpty()
    env = {**os.environ, **ENGLISH, "LANG": lang, "COLUMNS": "200"}
    try:
        os.write(master, answer.encode() + b"\n")  # kept by the terminal until flash reads it
        return subprocess.run(
            [sys.executable, "-m", "packbuilder", "flash", "image.img", "key.img"],
            stdin=slave,
            capture_output=True,
            cwd=folder,
            env=env,
            timeout=120,
        )
    finally:
        os.close(slave)
        os.close(master)


@pytest.mark.parametrize(
    ("answer", "lang", "written"),
    [
        ("o", "fr_FR.UTF-8", True),
        ("oui", "fr_FR.UTF-8", True),
        ("non", "fr_FR.UTF-8", False),
        ("y", "C.UTF-8", True),
        ("n", "C.UTF-8", False),
    ],
)
def test_flash_asks_in_the_locale_language(tmp_path: Path, answer: str, lang: str, written: bool) -> None:
    result = _flash_answering(answer, lang, tmp_path)
    assert (tmp_path / "key.img").exists() == written, result.stderr
    prompt = result.stderr.decode()
    if lang.startswith("fr"):
        assert "[o/N]" in prompt and "Écrire maintenant ?" in prompt
    else:
        assert "[y/N]" in prompt and "Write now?" in prompt
    assert result.returncode == (0 if written else 130)


def _command_rows(help_text: str) -> dict[str, str]:
    """The commands listed by a --help page: name -> description."""
    rows: dict[str, str] = {}
    in_commands = False
    for line in help_text.splitlines():
        if line.startswith(("Commands", "Commandes")):
            in_commands = True
        elif in_commands and line.startswith("  ") and not line.startswith("   "):
            name, _, text = line.strip().partition(" ")
            rows[name] = text.strip()
    return rows


@pytest.mark.parametrize("group", [[], ["catalog"], ["manifest"], ["profiles"], ["packs"], ["cache"]])
def test_help_in_the_locale_language(tmp_path: Path, group: list[str]) -> None:
    english = run_cli(*group, "--help", cwd=tmp_path, env={"LANG": "C"})
    french = run_cli(*group, "--help", cwd=tmp_path, env={"LANG": "fr_FR.UTF-8"})
    assert english.returncode == french.returncode == 0
    en_rows, fr_rows = _command_rows(english.stdout), _command_rows(french.stdout)
    assert en_rows and en_rows.keys() == fr_rows.keys()
    untranslated = [name for name in en_rows if en_rows[name] == fr_rows[name]]
    assert untranslated == [], french.stdout
    if not group:
        assert "Construire des clés USB" in french.stdout and "Build USB keys" in english.stdout
        assert "Langue des messages" in french.stdout


# What typer writes in English around a parameter's help when nothing translates it.
TYPER_ENGLISH = re.compile(
    r"\[required\]|\[default:|env var:|<(str|int|float|path|Path|int range|list\[[^]]*\])>|<=x<=|x[<>]=|COMMAND \[ARGS\]"
)


def test_every_help_page_names_types_defaults_and_ranges_in_french(tmp_path: Path) -> None:
    """Every command's help page: ``<texte>``, ``[obligatoire]``, ``[par défaut : 4; de 1 à 32]``,
    ``COMMANDE [ARGUMENTS]...`` rather than typer's ``<str>``, ``[required]``, ``[default: 4; 1<=x<=32]``,
    ``COMMAND [ARGS]...``; in English, words too."""
    groups = [[], *([name] for name in _command_rows(run_cli("--help", cwd=tmp_path, env={"LANG": "C"}).stdout))]
    pages = [[*group, name] for group in groups for name in _command_rows(run_cli(*group, "--help", cwd=tmp_path).stdout)]
    assert len(pages) > 20
    for page in [*groups, *pages]:
        french = run_cli("--lang", "fr", *page, "--help", cwd=tmp_path)
        assert french.returncode == 0, (page, french.stderr)
        assert TYPER_ENGLISH.findall(french.stdout) == [], (page, french.stdout)
    jobs = " ".join(run_cli("--lang", "fr", "build", "--help", cwd=tmp_path).stdout.split())
    assert "[obligatoire]" in jobs and "<nombre>" in jobs and "[par défaut : 4; de 1 à 32]" in jobs and "--size TAILLE" in jobs
    cache = run_cli("--lang", "fr", "cache", "--help", cwd=tmp_path).stdout
    assert "packbuilder cache [OPTIONS] COMMANDE [ARGUMENTS]...\n" in cache
    english = " ".join(run_cli("--lang", "en", "build", "--help", cwd=tmp_path).stdout.split())
    assert "[required]" in english and "<number>" in english and "[default: 4; 1 to 32]" in english


def test_plan_in_the_locale_language(tmp_path: Path) -> None:
    french = run_cli("plan", "vieux-pc", "--profile", "windows-7-x86", cwd=tmp_path, env={"LANG": "fr_FR.UTF-8"})
    assert french.returncode == 0, french.stderr
    assert "Pourquoi" in french.stdout and "sur la clé" in french.stdout and "logiciel" in french.stdout
    assert re.search(r"\d+(,\d)?\u00a0(Mo|Go)", french.stdout)
    english = run_cli("plan", "vieux-pc", "--profile", "windows-7-x86", cwd=tmp_path, env={"LANG": "C"})
    assert "Why" in english.stdout and "on the key" in english.stdout and "Pourquoi" not in english.stdout
    refused = run_cli("plan", "vieux-pc", "--profile", "windows-7-x86", "--size", "10M", cwd=tmp_path,
                      env={"LANG": "fr_FR.UTF-8"})
    assert refused.returncode == 2
    assert "erreur : le pack vieux-pc demande" in refused.stderr and "conseil : prendre une clé plus grande" in refused.stderr


def test_catalog_list_says_why_not_in_the_locale_language(tmp_path: Path) -> None:
    import json

    doc = json.loads(run_cli("catalog", "list", "--profile", "windows-xp-x86", "--json", cwd=tmp_path).stdout)
    refused = [a["profile"] for a in doc["apps"] if not a["profile"]["runs"]]
    assert refused and all(p["misfits"] and {"version", "code", "value"} == set(p["misfits"][0]) for p in refused)
    wide_french = {"LANG": "fr_FR.UTF-8", "COLUMNS": "250"}
    french = run_cli("catalog", "list", "--profile", "windows-xp-x86", cwd=tmp_path, env=wide_french)
    assert "non : " in french.stdout and " demande " in french.stdout and "needs" not in french.stdout


def test_offline_block_in_the_locale_language(tmp_path: Path) -> None:
    env = {"LANG": "fr_FR.UTF-8", "PACKBUILDER_CACHE": str(tmp_path / "cache")}
    result = run_cli("fetch", "vieux-pc", "--profile", "windows-xp-x86", "--offline", cwd=tmp_path, env=env)
    assert result.returncode == 3
    assert "erreur : hors ligne :" in result.stderr and "pour s’en sortir :" in result.stderr
    assert "manquants :" in result.stderr


def test_lint_speaks_french_down_to_pydantic_and_the_loader(tmp_path: Path) -> None:
    """Under French, every part of « file:line: field: message » is French: the loader's own words,
    our validators', and pydantic's (with its values); paths and field names stay as written."""
    import shutil

    from packbuilder.catalog import check_tree

    shutil.copytree(FIXTURES / "mini", tmp_path / "mini")
    manifests = tmp_path / "mini" / "manifests"
    for case in ("02-wrong-type", "03-unknown-key", "10-bad-category", "04-short-hash"):
        shutil.copy(ROOT / "tests" / "malformed" / f"{case}.yaml", manifests / "apps" / f"{case[3:].replace('-', '')}.yaml")
    i18n.set_language("fr")
    try:
        _catalog, problems = check_tree(manifests, review=True)
    finally:
        i18n.set_language("en")
    text = "\n".join(str(p) for p in problems)
    assert "releases[0].artifacts[0].size: la valeur doit être un nombre entier" in text
    assert "releases[0].artifacts[0].sha265: clé inconnue" in text
    assert "category: la valeur doit être 'office', 'graphics'" in text and "' ou '" in text
    assert "64 chiffres hexadécimaux en minuscules attendus" in text
    assert "Input should" not in text and "unknown key" not in text


def test_a_refused_lock_is_explained_in_french(tmp_path: Path) -> None:
    """The CLI under a French locale: the lock's refusal, its validators' words and pydantic's, and the hint."""
    import json

    from tests.conftest import run_cli

    lock = tmp_path / "atelier.lock"
    lock.write_text(json.dumps({"lock_version": 1, "pack": {"id": "Bad Id"}}), encoding="utf-8")
    result = run_cli("fetch", str(lock), env={"LANG": "fr_FR.UTF-8"})
    assert result.returncode == 2, result.stderr
    assert "n’est pas un fichier lock valide" in result.stderr
    assert "pack.id : " not in result.stderr  # field paths stay as written, "file: field: message"
    assert "pack.id: 'Bad Id' n’est pas un identifiant valide" in result.stderr
    assert "champ obligatoire" in result.stderr and "Field required" not in result.stderr
    english = run_cli("fetch", str(lock))
    assert "is not a valid lock file" in english.stderr and "Field required" in english.stderr
