"""`chat`: a conversation from a terminal (or any stream of lines), approvals at the prompt;
and the approval asking that `run` shares."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import sys
import threading
from collections.abc import Callable
from typing import TextIO

from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from agentic_loop.cli.common import (
    POLL_SECONDS,
    Handle,
    agent_input,
    new_workflow_id,
    start_agent,
)
from agentic_loop.cli.live import LiveLine, shows_live
from agentic_loop.cli.local import LocalAgent, local_agent, queue_text
from agentic_loop.cli.output import describe_provider, exit_code, print_result, to_json
from agentic_loop.cli.steps import StepPrinter
from agentic_loop.config import Settings
from agentic_loop.outcome import agent_result
from agentic_loop.types import AgentProgress, AgentStatus, ApprovalRequest, Reply, UserMessage
from agentic_loop.workflow import AgentWorkflow
from agentic_loop.workflow.policies import goal_problem, tool_summary

END_COMMANDS = ("/end", "/quit", "/exit")
HELP = (
    "Type a message and press Enter; the agent answers it.\n"
    "/end (or /quit, /exit), end of input (Ctrl-D) or Ctrl-C at the prompt ends the chat.\n"
    "/help shows this. When a tool call needs your approval you are asked here: answer y or\n"
    "n, with a reason after it if you like (n not now)."
)
# "/word" alone on a line is a command for the chat, never a message for the model.
_COMMAND = re.compile(r"\s*/[A-Za-z]+\s*")


def _is_command(text: str) -> bool:
    return _COMMAND.fullmatch(text) is not None


def _answer_command(text: str, out: TextIO) -> None:
    """/help, or a word for an unknown command (the end commands are the loop's)."""
    if text.strip() == "/help":
        print(HELP, file=out)
    else:
        print(f"agentic-loop: unknown command {text.strip()}; /help lists them", file=out)


async def _first_message(lines: Lines, out: TextIO) -> str | None:
    """The conversation's first message, as typed; None if the person leaves first. A
    message the agent could not take (too long, say) is refused here, and asked again."""
    while True:
        text = await lines.read(out, "you> ")
        if text is None or text.strip() in END_COMMANDS:
            return None
        if _is_command(text):
            _answer_command(text, out)
        elif text.strip():
            problem = goal_problem(text)
            if problem is None:
                return text.strip()
            print(f"agentic-loop: {problem}", file=out)


# How long Ctrl-C at the prompt waits for the conversation to end before leaving.
END_SECONDS = 5.0
# y, yes, n or no (any case), then an optional reason: "n not now", "no: too risky".
_DECISION = re.compile(r"\s*(?P<verdict>y|yes|n|no)(?:\s*[:,.;-]\s*|\s+|$)(?P<reason>.*)", re.I)


def parse_decision(answer: str) -> tuple[bool, str] | None:
    """(approved, reason) of an answer to the approval prompt; None if it is neither yes nor
    no, so the prompt asks again rather than guess (a typo must not reject a call)."""
    match = _DECISION.fullmatch(answer)
    if match is None:
        return None
    return match["verdict"].lower().startswith("y"), match["reason"].strip()


class Lines:
    """The lines of a stream, read by a daemon thread. A read in the event loop's executor
    would hold up the end of the command until Enter (the loop waits for its executor), so
    Ctrl-C at a prompt would do nothing; a daemon thread is simply left behind."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        threading.Thread(target=self._pump, name="agentic-loop-stdin", daemon=True).start()

    def _pump(self) -> None:
        try:
            for line in iter(self._stream.readline, ""):
                self._loop.call_soon_threadsafe(self._queue.put_nowait, line.rstrip("\n"))
            self._loop.call_soon_threadsafe(self._queue.put_nowait, None)
        except (RuntimeError, OSError, ValueError):
            pass  # the loop or the stream closed as the command ended

    async def read(self, out: TextIO, prompt: str) -> str | None:
        """The next line (None at end of input), after showing `prompt`."""
        print(prompt, end="", file=out, flush=True)
        line = await self._queue.get()
        if line is None:
            self._queue.put_nowait(None)  # the end stays the end for the next reader
        return line


class Chat:
    """Drives a conversation: shows its steps, asks for approvals, sends messages."""

    def __init__(
        self, handle: Handle, lines: Lines, out: TextIO, printer: StepPrinter | None = None
    ) -> None:
        self.handle = handle
        self.printer = printer if printer is not None else StepPrinter(out, show_answers=True)
        self.lines = lines
        self.out = out
        # What the agent is doing while nothing else shows (set by `chat`; `run` has its own).
        self.live: LiveLine | None = None

    async def follow(self, answered: Callable[[AgentProgress], bool]) -> AgentProgress:
        """Show the steps and ask for approvals until the request is answered or the run ends."""
        if self.live is not None:
            self.printer.before_print = self.live.clear
        try:
            while True:
                await self.printer.poll(self.handle)
                progress: AgentProgress = await self.handle.query(AgentWorkflow.status)
                for call in progress.awaiting_approval:
                    if self.live is not None:
                        self.live.clear()
                    await self.decide(call.id, tool_summary(call))
                if answered(progress) or progress.status != AgentStatus.RUNNING:
                    await self.printer.poll(self.handle)
                    return progress
                if self.live is not None:
                    await self.live.update(self.handle)
                await asyncio.sleep(POLL_SECONDS)
        finally:
            if self.live is not None:
                self.live.clear()

    async def decide(self, call_id: str, summary: str) -> None:
        while True:
            answer = await self.lines.read(self.out, f"Approve {summary}? [y/n, or n REASON] ")
            decision = (False, "no answer given") if answer is None else parse_decision(answer)
            if decision is not None:
                break
            print("Please answer y or n (n REASON says why).", file=self.out)
        approved, reason = decision
        update = AgentWorkflow.approve if approved else AgentWorkflow.reject
        with contextlib.suppress(WorkflowUpdateFailedError):  # decided or expired meanwhile
            await self.handle.execute_update(update, ApprovalRequest(call_id, reason))

    async def send(self, text: str) -> None:
        # By name: the SDK types a named async update method as returning a coroutine.
        update = asyncio.ensure_future(
            self.handle.execute_update(
                "send_message", UserMessage(text, wait_for_answer=True), result_type=Reply
            )
        )
        await self.follow(lambda _: update.done())
        try:
            await update
        except WorkflowUpdateFailedError as e:
            cause = e.cause
            reason = cause.message if isinstance(cause, ApplicationError) else str(e)
            print(f"agentic-loop: {reason}", file=self.out)


async def _end_at_once(handle: Handle, agent: LocalAgent, db_filename: str | None) -> str:
    """After Ctrl-C at the prompt: end the conversation and say what became of it. The
    terminal sent the Ctrl-C to an embedded server too (it is in our process group), so
    there it ends with the server, or waits in the server's file; a configured server ends
    it at once, as it waits for the person and this process's worker still runs."""
    if agent.embedded_address is not None:
        if db_filename is None:
            return f"the conversation {handle.id} ended with the embedded server"
        return (
            f"the conversation {handle.id} waits in {db_filename}: "
            f"`agentic-loop server --db-filename {db_filename}`, then "
            f"`agentic-loop end {handle.id}`, ends it"
        )
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()  # the Ctrl-C that got us here cancelled this task; this must still run
    try:
        await handle.signal(AgentWorkflow.end)
        result = await asyncio.wait_for(agent_result(handle), END_SECONDS)
    except Exception:
        return (
            f"the conversation {handle.id} is left running; `agentic-loop end {handle.id}` ends it"
        )
    return f"the conversation {handle.id} ended ({result.status.value})"


async def cmd_chat(args: argparse.Namespace, settings: Settings) -> int:
    # With --json only the result goes to stdout, for a program to read; the conversation
    # itself is for the person, on stderr.
    result_out = sys.stdout
    out = sys.stderr if args.json else sys.stdout
    lines = Lines(sys.stdin)
    # A goal given on the command line is checked before anything starts.
    value = agent_input(args, settings, chat=True) if args.goal else None
    async with local_agent(args, settings) as agent:
        assert agent.provider is not None
        print(f"LLM: {describe_provider(agent.provider)}", file=out)
        print(f"Temporal: {agent.where}{queue_text(agent, settings)}", file=out)
        if value is None:
            # No goal: the person learns the commands before typing the first message.
            print(f"\n{HELP}\n", file=out, flush=True)
            first = await _first_message(lines, out)
            if first is None:
                print("\nagentic-loop: no message given; nothing was started", file=sys.stderr)
                return 0
            args.goal = first
            value = agent_input(args, settings, chat=True)
        workflow_id = args.id or new_workflow_id("chat")
        handle = await start_agent(agent.client, value, workflow_id, settings, agent.task_queue)
        print(f"Workflow: {workflow_id}; /help lists the commands.\n", file=out, flush=True)
        chat = Chat(handle, lines, out)
        chat.live = LiveLine(out, at_terminal=shows_live(out))
        progress = await chat.follow(lambda p: p.phase == "waiting for the user")
        while progress.status == AgentStatus.RUNNING:
            try:
                text = await lines.read(out, "you> ")
            except asyncio.CancelledError:
                # Ctrl-C at the prompt: the person is done with the chat, now.
                print("", file=out, flush=True)  # the prompt's line, left open
                what = await _end_at_once(handle, agent, args.db_filename)
                print(f"agentic-loop: interrupted; {what}", file=sys.stderr)
                return 130
            if text is None or text.strip() in END_COMMANDS:
                print("", file=out)
                await handle.signal(AgentWorkflow.end)
                break
            if _is_command(text):
                _answer_command(text, out)
                continue
            if text.strip():
                await chat.send(text)
            progress = await handle.query(AgentWorkflow.status)
        result = await agent_result(handle)
    if args.json:
        print(to_json(result), file=result_out)
    else:
        print_result(result, out)
    return exit_code(result)
