"""Sample exports and the demo workbook, shipped inside the package as `uploader.samples`."""
