"""The gauge under the composer: about how much of the prompt budget the next message starts with."""

from __future__ import annotations

from nicegui import ui

from chatapp.pages.model_picker import short_count

WARN_AT = 0.9  # of the budget: the oldest turns are about to be left out


class ContextGauge:
    """A ring and '≈1.2k / 96k'; it sends the page an update only when what it shows changes."""

    def __init__(self) -> None:
        self._shown: tuple[str, int] | None = None
        with ui.row().classes('context-gauge items-center no-wrap gap-1').props('data-testid=context-gauge'):
            self.ring = ui.circular_progress(0, min=0, max=1, show_value=False, size='14px') \
                .props('thickness=0.3 track-color=grey-4 color=primary')
            self.text = ui.label().props('data-testid=context-gauge-text')
            self.tooltip = ui.tooltip()

    def show(self, used: int, budget: int) -> None:
        text = f'≈{short_count(used)} / {short_count(budget)}' if budget else ''
        if self._shown == (text, budget):
            return
        if self._shown is None or self._shown[1] != budget:
            self.tooltip.set_text(f'Estimated tokens of the next prompt, of the {budget:,} a prompt may take (the '
                                  "rest of the model's window is for the reply); past that, the oldest turns are "
                                  'left out.' if budget else 'This model takes prompts of any length.')
        self._shown = (text, budget)
        self.text.set_text(text)
        fill = min(1.0, used / budget) if budget else 0.0
        self.ring.set_value(round(fill, 2))
        self.ring.props(f'color={"negative" if fill > WARN_AT else "primary"}')
