from apimw_cli.main import main

main()
