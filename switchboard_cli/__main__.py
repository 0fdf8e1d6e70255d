from switchboard_cli.main import main

raise SystemExit(main())
