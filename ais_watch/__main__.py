from ais_watch.cli import main

raise SystemExit(main())
