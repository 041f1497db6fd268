"""The per-module trace: which rule libpam ran, with what, what it returned and logged.

- ``pamtrace.c``: the C shim an engine child loads (PLT hooking of libpam's ``dlsym`` and
  syslog family); ``build.py`` compiles it (the install's build hook uses it too).
- ``events.py``: the shim's raw events, parsed (pure Python, front ends read them).
- ``assemble.py``: events -> :class:`pamexplorer.pam.records.Trace`, with rules mapped and
  actions from the stack dispatcher (``stack.simulate``) fed with the traced codes.
- ``collect.py``: the front end's half: each call's events read from the child's flight
  recorder (a memfd the shim writes), assembled there or by the child.
- ``pamexplorer.engine.tracer`` (child side, ctypes): loads the shim, records each call.
"""
