"""`promptbreeder import`: ready day care task folders from BIG-bench tasks, JSONL, CSV and datasets folders.

`base` is the contract, `registry` lists the formats, `answer_rules` chooses answer type and scorer,
`task_writer` writes and checks the folder, `command` is the command line.
"""
