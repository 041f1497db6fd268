from pamexplorer.cli import main

raise SystemExit(main())
