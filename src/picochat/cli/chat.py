"""`picochat chat` and `picochat generate`: sample from a checkpoint by hand.

Thin: flags -> `picochat.chat_session` / `picochat.generation` -> the terminal. Piped
stdin works (one user turn per line), so scripts can drive `chat`.
"""

from __future__ import annotations

import argparse
import sys

from picochat.cli.commands import add_command
from picochat.cli.console import console, err_console
from picochat.cli.options import config_from_args
from picochat.configs import ChatConfig, GenerateConfig

COMMANDS_HELP = "/reset clears the history, /show-prompt prints the exact prompt, /quit ends."


def _print_stream(pieces) -> None:
    for piece in pieces:
        console.print(piece, end="", markup=False, highlight=False)
        console.file.flush()
    console.print()


def _read_turns(interactive: bool):
    """User lines until /quit or end of input."""
    while True:
        try:
            line = console.input("[bold]you>[/] ") if interactive else sys.stdin.readline()
        except EOFError:
            return
        if not interactive and not line:
            return
        line = line.strip()
        if line == "/quit":
            return
        if line:
            yield line


def _chat(args: argparse.Namespace) -> int:
    from picochat.chat_session import ChatSession, open_engine
    from picochat.generation import sampling_options

    config = config_from_args(ChatConfig, args)
    engine = open_engine(config)
    session = ChatSession(engine, system=config.system, **sampling_options(config))
    for note in engine.warnings():
        err_console.print(f"[yellow]warning:[/] {note}", soft_wrap=True)
    interactive = sys.stdin.isatty()
    if interactive:
        console.print(f"context {engine.context_size} tokens. {COMMANDS_HELP}")
    for line in _read_turns(interactive):
        if line == "/reset":
            session.reset()
            console.print("(history cleared)")
        elif line == "/show-prompt":
            shown = session.show_prompt()
            if shown is None:
                console.print("(no prompt yet: send a message first)")
            else:
                text, tokens, cut = shown
                cut_note = f", {cut} cut from the left to fit" if cut else ""
                console.print(f"--- exact prompt of the last reply ({tokens} tokens{cut_note}) ---")
                console.print(text, markup=False, highlight=False)
                console.print("--- end of prompt ---")
        elif line.startswith("/"):
            console.print(f"unknown command {line}. {COMMANDS_HELP}", markup=False)
        else:
            console.print("assistant> ", end="", style="bold")
            _print_stream(session.send(line))
            if session.last_dropped:
                console.print(
                    f"(note: the {session.last_dropped} oldest turn(s) were left out of the "
                    f"prompt to fit the {engine.context_size}-token context)"
                )
    return 0


def _generate(args: argparse.Namespace) -> int:
    from picochat.generation import fit_prompt, sampling_options, stream_text, text_prompt_ids
    from picochat.model.loading import load_native
    from picochat.runtime import resolve_device

    config = config_from_args(GenerateConfig, args)
    if config.hf_model is not None:
        from picochat.hf.adapter import load_hf_chat_model

        engine = load_hf_chat_model(config.hf_model, device=resolve_device(config.device))
        options = sampling_options(config)
        text = engine.continue_text(config.prompt, **options)
        console.print(config.prompt + text, markup=False, highlight=False)
        return 0
    model, tokenizer = load_native(config, resolve_device(config.device))
    prompt_ids = text_prompt_ids(tokenizer, config.prompt)
    _, cut = fit_prompt(prompt_ids, model.config.context_size, config.max_new_tokens)
    if cut:
        err_console.print(
            f"note: the prompt is {len(prompt_ids)} tokens; its first {cut} are left out to fit "
            f"the {model.config.context_size}-token context with {config.max_new_tokens} new tokens."
        )
    console.print(config.prompt, end="", markup=False, highlight=False)
    _print_stream(stream_text(model, tokenizer, prompt_ids, **sampling_options(config)))
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    add_command(
        commands,
        "chat",
        config=ChatConfig,
        handler=_chat,
        help="Talk to a chat checkpoint (/reset, /show-prompt, /quit); reads piped stdin too.",
    )
    add_command(
        commands,
        "generate",
        config=GenerateConfig,
        handler=_generate,
        help="Continue a raw text prompt with a (base) checkpoint.",
    )
