from tuiker.cli import main

raise SystemExit(main())
