"""An execution environment's worker process ignores Ctrl-C (the stack stops it) and dies with the stack."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

TEMPLATE = """
Resources:
  PidFunction:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: pid/, Handler: app.handler, Timeout: 5}
"""

HANDLER = """
    import os

    def handler(event, context):
        return {"process": os.getpid()}
"""

STACK = """
    import sys, time
    from pathlib import Path
    from switchboard_cli.local.functions import function_specs, load_functions
    from switchboard_cli.local.template import Template

    template = Template.from_file(Path(sys.argv[1]))
    functions = load_functions(template, function_specs(template))
    print(functions["PidFunction"].call({})["process"], flush=True)
    time.sleep(60)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_a_worker_ignores_ctrl_c_and_dies_with_the_stack(tmp_path: Path):
    # Given a process that loaded one function and invoked it once (its worker's pid printed)
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    (tmp_path / "pid").mkdir()
    (tmp_path / "pid" / "app.py").write_text(textwrap.dedent(HANDLER))
    stack = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(STACK), str(tmp_path / "template.yaml")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert stack.stdout is not None
        worker = int(stack.stdout.readline())
        assert worker != stack.pid

        # When the worker gets Ctrl-C's signal, Then it keeps running
        os.kill(worker, signal.SIGINT)
        assert not gone_within(worker, 0.5)

        # When the stack is killed outright (no chance to stop its workers), Then the worker ends too
        stack.kill()
        stack.wait(5)
        assert gone_within(worker, 5)
    finally:
        stack.kill()
        stack.wait(5)


def test_an_environment_stopped_twice_at_once_closes_its_pipe_once(tmp_path: Path):
    import threading

    from switchboard_cli.local.functions import function_specs, load_functions
    from switchboard_cli.local.template import Template

    # Given a function whose environment served one invocation
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    (tmp_path / "pid").mkdir()
    (tmp_path / "pid" / "app.py").write_text(textwrap.dedent(HANDLER))
    template = Template.from_file(tmp_path / "template.yaml")
    function = load_functions(template, function_specs(template))["PidFunction"]
    try:
        worker = function.call({})["process"]
        environment = function._environments[0]  # the one environment (the test reaches into the pool)

        # When the invocation that saw it fail and the stack's stop both stop it, at the same moment
        errors: list[BaseException] = []
        start = threading.Barrier(8)

        def stop() -> None:
            start.wait()
            try:
                environment.worker.stop()
            except BaseException as error:  # what a second close raised is the finding
                errors.append(error)

        threads = [threading.Thread(target=stop) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)

        # Then neither fails, and the worker is gone
        assert errors == []
        assert gone_within(worker, 5)
    finally:
        function.close()
