"""Which script files of a command read alerts past the first (convert.amx.scripts):
real files in a temporary directory, looked up as the converter looks them up."""

from __future__ import annotations

from pathlib import Path

from alertreflex.convert.amx.scripts import alert_reading_scripts


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_relative_paths_are_found_in_the_given_directories(tmp_path: Path) -> None:
    """A relative script path is looked for in the working directory, then in each of
    the directories given (the CLI gives the am-executor config's own)."""
    config_dir = tmp_path / "etc"
    script = write(config_dir / "bin" / "collect.sh", 'echo "$AMX_ALERT_${i}_LABEL_job"\n')
    assert alert_reading_scripts(["/bin/sh", "bin/collect.sh"], [config_dir]) == [str(script)]
    assert alert_reading_scripts(["/bin/sh", "bin/collect.sh"], []) == []


def test_each_script_named_once_in_order(tmp_path: Path) -> None:
    b = write(tmp_path / "b.sh", "echo $AMX_ALERT_2_STATUS\n")
    a = write(tmp_path / "a.sh", "echo $AMX_ALERT_3_FINGERPRINT\n")
    argv = [str(b), str(a), str(b), "--flag", "plain", str(tmp_path / "missing.sh")]
    assert alert_reading_scripts(argv, [tmp_path]) == [str(a), str(b)]


def test_the_first_alert_only_a_directory_or_a_binary_say_nothing(tmp_path: Path) -> None:
    first = write(tmp_path / "first.sh", "echo $AMX_ALERT_1_LABEL_x $AMX_ALERT_LEN\n")
    binary = tmp_path / "tool"
    binary.write_bytes(b"\x7fELF\0\0AMX_ALERT_2_STATUS")
    (tmp_path / "dir.sh").mkdir()
    argv = [str(first), str(binary), str(tmp_path / "dir.sh")]
    assert alert_reading_scripts(argv, []) == []
