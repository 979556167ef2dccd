"""The run machinery shared by every family's trainer (the trainers live in deblurkeras/families/<f>/trainer.py).

Kept import-light on purpose: ``import deblurkeras.training`` pulls in no TensorFlow. Submodules: ``config``
(defaults, validation, --set), ``contract`` (what a trainer provides), ``checkpoints``, ``logs``, ``loop`` (the run),
``datasets``, ``schedules``. A caller loads a config with ``config.load_config`` and runs it with
``loop.train`` (or ``loop.Run``).
"""
