// Training text for the tiny tokenizer's merges. Written for this purpose: plain English about models, data
// and code, plus a little punctuation and digits, so common words become single tokens.
export const TOKENIZER_CORPUS = `
The model reads a sequence of tokens and predicts the next one. Each token is a small piece of text: a word,
part of a word, a space followed by a word, a digit or a mark of punctuation. The tokenizer turns text into
these pieces and back again, and the same text always gives the same pieces.

We train the model on examples. An example has a prompt and an answer; the loss is computed on the answer
only, so the model learns to answer and not to repeat the question. When the loss goes down, the model is
learning; when it goes down on the training data but not on the validation data, it is only remembering.

A user asks a question, and the assistant answers it. The system message sets the tone of the conversation.
Hello! How are you today? I am fine, thank you. What is the capital of France? The capital of France is Paris.
Please write a short poem about the sea. The sea is wide and the sea is deep, and the waves will never sleep.

Fine-tuning changes a few of the weights of a large model, or adds a few new ones beside them. With low-rank
adaptation the update of each weight matrix is the product of two thin matrices, and only those are trained.
The rank is small: four, eight or sixteen. The learning rate is larger than for full training, and the base
weights stay frozen, so the adapter is a small file that can be shared, merged or thrown away.

The graph holds nodes, values and initializers. A node has an operator type, inputs and outputs; the runtime
executes the nodes in order and returns the outputs that were asked for. Matrix multiplication takes most of
the time, and the elementwise operations take the rest: addition, multiplication, exponent and the norms.

function add(a, b) { return a + b; }  const x = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];  if (x.length > 0) { print(x); }
for i in range(100): total = total + i * 2  # the sum of the first hundred even numbers is 9900
In 2024 there were 365 days, 12 months and 52 weeks; in 2025 the numbers were the same except for one day.

There is a time for reading and a time for writing, a time for the question and a time for the answer.
They said that the work was done, but there was still more to do: the tests, the notes and the benchmark.
She looked at the numbers, then at the plot, and then she wrote down what she had seen in the report.
`;
