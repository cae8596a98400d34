"""The daily report: Markdown from the warehouse, charts, and publishing."""
