from engine.cli.commands import main

main()
