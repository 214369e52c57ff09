"""`hotline users add`: the first admin, from the command line."""

from __future__ import annotations

from click.testing import CliRunner
from redis import Redis

from hotline import users
from hotline.cli import main
from routing.counselors import create_counselor


def test_users_add_reads_the_password_from_the_environment(env: dict[str, str], r: Redis) -> None:
    result = CliRunner().invoke(
        main,
        ["users", "add", "--username", "Root", "--role", "admin"],
        env={**env, "HOTLINE_NEW_PASSWORD": "a long admin password"},
    )
    assert result.exit_code == 0, result.output
    assert "created admin root" in result.output
    assert users.authenticate(r, "root", "a long admin password") is not None


def test_users_add_prompts_for_the_password_twice(env: dict[str, str], r: Redis) -> None:
    counselor = create_counselor(r, "Dana", "+12125550100", ["en"])
    result = CliRunner().invoke(
        main,
        [
            "users",
            "add",
            "--username",
            "dana",
            "--role",
            "counselor",
            "--counselor-id",
            counselor.id,
        ],
        env={**env, "HOTLINE_NEW_PASSWORD": ""},
        input="a long password\na long password\n",
    )
    assert result.exit_code == 0, result.output
    user = users.authenticate(r, "dana", "a long password")
    assert user is not None and user.counselor_id == counselor.id


def test_users_add_refuses_bad_input_with_a_message(env: dict[str, str], r: Redis) -> None:
    runner = CliRunner()
    short = runner.invoke(
        main,
        ["users", "add", "--username", "x1", "--role", "admin"],
        env={**env, "HOTLINE_NEW_PASSWORD": "short"},
    )
    assert short.exit_code != 0 and "at least 10 characters" in short.output
    unknown = runner.invoke(
        main,
        ["users", "add", "--username", "dana", "--role", "counselor", "--counselor-id", "C9999"],
        env={**env, "HOTLINE_NEW_PASSWORD": "a long password"},
    )
    assert unknown.exit_code != 0 and "no counselor 'C9999'" in unknown.output
    assert users.all_users(r) == []
