"""`python -m finops_pipeline.demo LANDING_DIR [--days N] [--end-day D] [--seed S]`."""

from finops_pipeline.demo import main

if __name__ == "__main__":
    main()
