"""The errors file of a task: its errored lines, with their original cells, as a CSV to fix and upload again.

``cells`` holds what the readers share with it (the two extra columns, formula
neutralization); ``originals`` reads a file's original rows, one reader per
format; ``stream`` merges them with the report's errored lines into the CSV.
"""
