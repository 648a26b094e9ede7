import sys

from .malloc_tuning import restart_with_tuned_malloc

restart_with_tuned_malloc("core")  # before torch is imported; see core/malloc_tuning.py

from .cli import main  # noqa: E402

sys.exit(main())
