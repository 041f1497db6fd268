"""Saving writes a profile as a person would: order kept, block scalars, no defaults."""

from __future__ import annotations

from pathlib import Path

from pamexplorer.profile import bundled_dir, dumps, load, loads, save


def test_every_bundled_profile_round_trips(tmp_path: Path) -> None:
    for path in sorted(bundled_dir().glob("*.yaml")):  # type: ignore[union-attr]
        profile = load(path)
        again = loads(dumps(profile), path)
        assert again == profile, path.name


def test_saved_text_reads_like_hand_written(tmp_path: Path) -> None:
    source = tmp_path / "p.yaml"
    source.write_text("""\
name: Demo
description: |
  First line.
  Second line.
service: demo
config:
  demo: |
    auth required pam_permit.so
    session required pam_permit.so
user: alice
answers:
  - match: (?i)password
    answer: {ask: true}
steps:
  - authenticate: {expect: PAM_SUCCESS, flags: [PAM_SILENT]}
  - acct_mgmt
  - setcred(PAM_ESTABLISH_CRED)
  - open_session: {expect: [PAM_SUCCESS, PAM_IGNORE]}
""")
    profile = load(source)
    out = save(profile, tmp_path / "saved.yaml")
    text = out.read_text()
    keys = [line.split(":")[0] for line in text.splitlines() if line and line[0].isalpha()]
    assert keys == ["name", "description", "service", "config", "user", "answers", "steps"]
    assert "description: |\n  First line.\n  Second line.\n" in text
    assert "  demo: |\n    auth required pam_permit.so\n" in text
    assert "expect: PAM_SUCCESS" not in text  # the default is left out
    assert "  - acct_mgmt\n" in text
    assert "flags: [PAM_SILENT]" in text
    assert "flags: [PAM_ESTABLISH_CRED]" in text
    assert "expect: [PAM_SUCCESS, PAM_IGNORE]" in text
    assert "answer: {ask: true}" in text
    assert "config: system" not in text
    assert load(out) == profile
    assert oct(out.stat().st_mode & 0o777) == "0o600"


def test_save_replaces_a_file_whole_and_keeps_its_mode(tmp_path: Path) -> None:
    source = bundled_dir() / "lab-requisite.yaml"  # type: ignore[operator]
    profile = load(source)
    target = tmp_path / "mine.yaml"
    target.write_text("old text\n")
    target.chmod(0o640)
    save(profile, target)
    assert target.stat().st_mode & 0o777 == 0o640
    assert load(target).service == profile.service
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.yaml"]  # no temporary left
    fresh = tmp_path / "new.yaml"
    save(profile, fresh)
    assert fresh.stat().st_mode & 0o777 == 0o600
