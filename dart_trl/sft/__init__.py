"""SFT: TRL's SFTTrainer on query/response data with the Alpaca template and BFD packing (``dart-trl sft``)."""
