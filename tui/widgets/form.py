"""A modal form: fields, inline errors under each field, submit through the node.

The form checks its values with a pure validator (``cercle.tui.forms``) and shows
every error under its field; only when there is none does it call ``submit``
(which talks to the node). An error the node answers is shown the same way:
under the field it names (``bad_params`` messages start with the field), else
at the bottom. The form closes with the submit result; Escape closes it with None.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static, Switch

from cercle.protocol.localapi import ApiError
from cercle.tui import format as fmt
from cercle.tui.client import ConnectionLost
from cercle.tui.forms import Checked


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a form: its key (also the API param when it maps to one), label, start value."""

    name: str
    label: str
    value: str | bool = ""
    placeholder: str = ""
    kind: Literal["input", "switch"] = "input"
    api_names: tuple[str, ...] = ()  # API params whose errors belong under this field


class FieldError(Exception):
    """Raised by a submit function: show ``message`` under ``field`` ("form": at the bottom)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


Validator = Callable[[dict[str, Any]], Checked]
Submit = Callable[[dict[str, Any]], Awaitable[Any]]


class FormScreen(ModalScreen[Any]):
    """``push_screen(FormScreen(title, fields, validate, submit), callback)``."""

    DEFAULT_CSS = """
    FormScreen {
        align: center middle;
    }
    FormScreen > VerticalScroll {
        width: 72;
        max-width: 95%;
        height: auto;
        max-height: 90%;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    FormScreen .form-title {
        text-style: bold;
        width: 100%;
        content-align: center middle;
        margin-bottom: 1;
    }
    FormScreen .field-label {
        margin-top: 1;
    }
    FormScreen .field-error {
        color: $error;
        height: auto;
        display: none;
    }
    FormScreen .field-error.-shown {
        display: block;
    }
    FormScreen .buttons {
        height: auto;
        margin-top: 1;
        align-horizontal: right;
    }
    FormScreen Button {
        margin-left: 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Save"),
    ]

    def __init__(
        self,
        title: str,
        fields: Sequence[Field],
        validate: Validator,
        submit: Submit,
        *,
        submit_label: str = "Save",
    ) -> None:
        super().__init__()
        self.form_title = title
        self.fields = list(fields)
        self.validate = validate
        self.submit = submit
        self.submit_label = submit_label
        self.submitted = 0  # how many times submit() was called (for tests)
        self._busy = False

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Label(self.form_title, classes="form-title", markup=False)
            for f in self.fields:
                yield Label(f.label, classes="field-label", markup=False)
                if f.kind == "switch":
                    yield Switch(value=bool(f.value), id=f"field-{f.name}")
                else:
                    yield Input(str(f.value), placeholder=f.placeholder, id=f"field-{f.name}")
                yield Static("", id=f"error-{f.name}", classes="field-error", markup=False)
            yield Static("", id="error-form", classes="field-error", markup=False)
            with Horizontal(classes="buttons"):
                yield Button(self.submit_label, id="submit", variant="primary")
                yield Button("Cancel", id="cancel")

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in self.fields:
            if f.kind == "switch":
                out[f.name] = self.query_one(f"#field-{f.name}", Switch).value
            else:
                out[f.name] = self.query_one(f"#field-{f.name}", Input).value
        return out

    def set_value(self, name: str, value: str | bool) -> None:
        widget = self.query_one(f"#field-{name}")
        if isinstance(widget, Switch):
            widget.value = bool(value)
        elif isinstance(widget, Input):
            widget.value = str(value)

    def error_text(self, name: str) -> str:
        return str(self.query_one(f"#error-{name}", Static).render())

    def show_errors(self, errors: Mapping[str, str]) -> None:
        known = {f.name for f in self.fields} | {"form"}
        stray = [msg for key, msg in errors.items() if key not in known]
        for name in known:
            msg = errors.get(name, "")
            if name == "form" and stray:
                msg = "; ".join([msg, *stray]) if msg else "; ".join(stray)
            widget = self.query_one(f"#error-{name}", Static)
            widget.update(msg)
            widget.set_class(bool(msg), "-shown")

    def _field_of(self, error: ApiError) -> str:
        """The form field an API error is about (the API names the parameter), else the form."""
        for f in self.fields:
            if error.field is not None and (error.field == f.name or error.field in f.api_names):
                return f.name
        return "form"

    async def action_submit(self) -> None:
        if self._busy:
            return
        checked = self.validate(self.values())
        self.show_errors(checked.errors)
        if not checked.ok:
            return
        self._busy = True
        self.submitted += 1
        try:
            result = await self.submit(checked.params)
        except ApiError as e:
            self.show_errors({self._field_of(e): fmt.api_error(e)})
            return
        except ConnectionLost as e:
            self.show_errors({"form": f"not sent: {e}"})
            return
        except FieldError as e:
            self.show_errors({e.field: e.message})
            return
        finally:
            self._busy = False
        self.dismiss(result)

    def action_cancel(self) -> None:
        self.dismiss(None)

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "submit":
            await self.action_submit()
        else:
            self.action_cancel()

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        await self.action_submit()
