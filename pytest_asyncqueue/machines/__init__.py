"""Hypothesis state machines that check a target against the executable model, step by step.

:class:`QueueMachine` drives one target through its adapter on a :class:`VirtualClockLoop`
whose schedule seed Hypothesis draws, so that every example also explores another order of
the callbacks that are ready at one instant. Rules submit probes (run for a while, fail k
times, time out, wait on a gate), cancel tasks in every state (also at the very instant
another event is due, racing it), move virtual time and open gates; every example ends by
stopping the queue (draining or not). Every rule advances the model by what it did and
through what the target's handlers recorded (the attempts started and ended at each
instant); after every step :meth:`QueueMachine.agrees_with_model` compares the target with
:mod:`..model`: ``cancel``'s answers, every task's status and result, every stats counter
(and S6 after every loop iteration), live workers, blocking calls, what ``stop`` leaves
behind. A failure is raised in the category of the rule it breaks.

:func:`run_machines` runs the machine under a seed and returns one :class:`MachineResult`
per category; a failure carries the shrunk step list, which the same seed or
:func:`run_steps` replays exactly, and :func:`write_regression` saves as a pytest file.

Layout: :mod:`._machine` (the rules, advancing the model, the invariant), :mod:`._example`
(what every example needs: its loop, calls, step lines, failures), :mod:`._target`
(the target as acted on), :mod:`._handlers` (the handlers submitted), :mod:`._judge`
(comparing with the model), :mod:`._driver` (the loop), :mod:`._steps` (task specs and step
lines), :mod:`._run` (Hypothesis runs and verdicts), :mod:`._shrink` and :mod:`._replay`
(making a failure small by replaying it), :mod:`._regression` (regression files).

IMPLEMENTATION DETAIL - driving the loop from a synchronous machine
===================================================================

Every rule runs small coroutines with ``loop.run_until_complete`` and then *settles* the
loop: it lets ready callbacks run until none is left and no timer is due, without moving
the clock. Between two steps the target is therefore quiescent, and virtual time moves only
in the rules that advance it. The model follows the target instant by instant
(:func:`.model.follow`), keeping every reading of the open points the target has not refuted.
"""

from ._machine import QueueMachine
from ._outcomes import MachineFailure, MachineResult
from ._regression import write_regression
from ._replay import StepNotAllowed, run_steps
from ._run import run_machines

__all__ = ["MachineFailure", "MachineResult", "QueueMachine", "StepNotAllowed", "run_machines",
           "run_steps", "write_regression"]
