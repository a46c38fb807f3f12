"""Zero-shot predictors built on pretrained vision-language models."""
