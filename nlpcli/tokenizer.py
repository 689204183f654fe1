"""SentencePiece tokenization with the ids M2M100/fairseq use:
<s>=0, <pad>=1, </s>=2, <unk>=3, then the special (task/language) tokens."""
from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from pathlib import Path

import sentencepiece as spm

BOS_ID, PAD_ID, EOS_ID, UNK_ID = 0, 1, 2, 3


class Tokenizer:
    def __init__(self, model_proto: bytes) -> None:
        self.model_proto = model_proto
        self.sp = spm.SentencePieceProcessor(model_proto=model_proto)
        self.bos_id, self.pad_id, self.eos_id, self.unk_id = BOS_ID, PAD_ID, EOS_ID, UNK_ID

    @classmethod
    def load(cls, path: str | Path) -> "Tokenizer":
        return cls(Path(path).read_bytes())

    def save(self, path: str | Path) -> None:
        Path(path).write_bytes(self.model_proto)

    @classmethod
    def train(
        cls,
        sentences: Iterable[str],
        vocab_size: int,
        special_tokens: Sequence[str] = (),
        max_sentences: int = 1_000_000,
        threads: int = 2,
        split_digits: bool = False,
        character_coverage: float = 0.9995,
    ) -> "Tokenizer":
        """Train a unigram model of at most ``vocab_size`` pieces. Byte fallback
        means no input is ever <unk>: unseen characters are spelled as UTF-8 bytes.
        ``split_digits`` makes every digit its own piece, so a number is spelled the
        same way wherever it occurs ("1876" -> 1 8 7 6, not 18 7 6). Characters outside
        ``character_coverage`` of the text's character mass are spelled as bytes."""
        buffer = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences),
            model_writer=buffer,
            vocab_size=vocab_size,
            model_type="unigram",
            character_coverage=character_coverage,
            byte_fallback=True,
            bos_id=BOS_ID,
            pad_id=PAD_ID,
            eos_id=EOS_ID,
            unk_id=UNK_ID,
            user_defined_symbols=list(special_tokens),
            input_sentence_size=max_sentences,
            shuffle_input_sentence=True,
            hard_vocab_limit=False,  # small corpora get a smaller vocabulary instead of an error
            num_threads=threads,
            split_digits=split_digits,
            minloglevel=2,
        )
        return cls(buffer.getvalue())

    def with_special_tokens(self, tokens: Sequence[str]) -> "Tokenizer":
        """The same model with ``tokens`` appended as unsplittable pieces; existing
        ids keep their meaning, so a trained model only needs new embedding rows."""
        from sentencepiece import sentencepiece_model_pb2

        proto = sentencepiece_model_pb2.ModelProto()
        proto.ParseFromString(self.model_proto)
        present = {piece.piece for piece in proto.pieces}
        for token in tokens:
            if token not in present:
                proto.pieces.add(piece=token, score=0.0, type=sentencepiece_model_pb2.ModelProto.SentencePiece.USER_DEFINED)
        return Tokenizer(proto.SerializeToString())

    def __len__(self) -> int:
        return self.sp.get_piece_size()

    def special_ids(self) -> list[int]:
        """Ids that are not text: <s>, <pad>, </s>, <unk> and the task/language tokens."""
        from sentencepiece import sentencepiece_model_pb2

        proto = sentencepiece_model_pb2.ModelProto()
        proto.ParseFromString(self.model_proto)
        kinds = proto.SentencePiece
        return [i for i, piece in enumerate(proto.pieces) if piece.type in (kinds.CONTROL, kinds.UNKNOWN, kinds.USER_DEFINED)]

    def encode(self, text: str) -> list[int]:
        return self.sp.encode(text)

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return self.sp.encode(texts)

    def encode_with_offsets(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """Ids and each piece's (start, end) character span in ``text``; a piece
        that only carries the word-boundary mark gets an empty span."""
        proto = self.sp.encode(text, return_type="proto")
        spans, offset_of_byte = [], _byte_to_char_offsets(text)
        for piece in proto.pieces:
            spans.append((offset_of_byte[piece.begin], offset_of_byte[piece.end]))
        return [piece.id for piece in proto.pieces], spans

    def decode(self, ids: Sequence[int]) -> str:
        return self.sp.decode([i for i in ids if i > UNK_ID])

    def pieces(self, ids: Sequence[int]) -> list[str]:
        return [self.sp.id_to_piece(i) for i in ids]

    def token_id(self, token: str) -> int:
        """Id of a special token; KeyError if the vocabulary lacks it."""
        token_id = self.sp.piece_to_id(token)
        if token_id == UNK_ID and token != self.sp.id_to_piece(UNK_ID):
            raise KeyError(token)
        return token_id


def _byte_to_char_offsets(text: str) -> list[int]:
    """SentencePiece reports UTF-8 byte offsets; index i gives the character offset of byte i."""
    offsets = []
    for index, char in enumerate(text):
        offsets += [index] * len(char.encode("utf-8"))
    offsets.append(len(text))
    return offsets
