"""``python -m ibmi_sim up|down|status|guesses|bench``."""

from ibmi_sim.cli import main

raise SystemExit(main())
