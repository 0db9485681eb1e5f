from ecc_widgets.solara_serving import main

main()
