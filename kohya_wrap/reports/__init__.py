"""Reports of a job: lora.inspect_lora, summary.build_summary, html.render_html, write.write_reports/report_from_log."""
