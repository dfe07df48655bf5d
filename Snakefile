# dramaemo: facial emotion of TV-drama characters from a face crop and a text.
# Reproduces Lee, Kim & Cheong (Misaeng, 7 classes) as a DAG; see README.md.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/front_common.smk"
include: "workflow/rules/train_common.smk"
include: "workflow/rules/evaluate_common.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/frames.smk"
include: "workflow/rules/faces.smk"
include: "workflow/rules/dataset.smk"
include: "workflow/rules/text.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/ablation.smk"
include: "workflow/rules/label.smk"
include: "workflow/rules/index_common.smk"
include: "workflow/rules/index.smk"
include: "workflow/rules/author_common.smk"
include: "workflow/rules/author.smk"


rule all:
    input:
        get_final_output(),
