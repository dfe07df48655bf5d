import sys

from dramaemo.cli import main

sys.exit(main())
