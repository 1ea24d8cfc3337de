from jupyter_mlops.cli import main

raise SystemExit(main())
