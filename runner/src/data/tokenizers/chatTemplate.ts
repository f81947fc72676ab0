/**
 * Chat templates: the Jinja template of a model's tokenizer_config.json rendered by
 * `@huggingface/jinja` (the implementation transformers.js uses), with the variables
 * transformers' `apply_chat_template` passes (messages, add_generation_prompt, the special
 * tokens by name).
 */
import { Template } from '@huggingface/jinja';
import { SpruftError } from '../../errors';
import type { ChatMessage } from './types';

export interface ChatTemplateOptions {
  /** Special tokens by config key (`bos_token`, `eos_token`, ...), as transformers passes them. */
  specialTokens?: Record<string, string>;
  /** Where the template came from, for messages. */
  where?: string;
}

/** A parsed template, rendered many times. */
export class ChatTemplate {
  private readonly template: Template;

  constructor(source: string, private readonly options: ChatTemplateOptions = {}) {
    try {
      this.template = new Template(source);
    } catch (err) {
      throw new SpruftError('CONFIG_INVALID', `the chat template does not parse: ${(err as Error).message}`, options.where);
    }
  }

  render(messages: ChatMessage[], addGenerationPrompt = false): string {
    try {
      return this.template.render({ ...this.options.specialTokens, messages, add_generation_prompt: addGenerationPrompt });
    } catch (err) {
      throw new SpruftError('DATA_INVALID', `the chat template failed on this conversation: ${(err as Error).message}`, this.options.where);
    }
  }

  /**
   * The rendered conversation cut into pieces, each marked whether it is an assistant
   * reply (what instruction tuning trains on). Reply i spans from the end of
   * render(messages[..i], add_generation_prompt) to the end of render(messages[..i+1]):
   * the prompt the model would be given, then what it should answer, end-of-turn token
   * included. A template whose renderings of a conversation's beginnings are not
   * prefixes of each other cannot be cut this way and is refused.
   */
  segments(messages: ChatMessage[]): Array<{ text: string; train: boolean }> {
    const out: Array<{ text: string; train: boolean }> = [];
    let done = '';
    const push = (text: string, train: boolean): void => {
      if (text !== '') out.push({ text, train });
    };
    const extend = (next: string, train: boolean, what: string): void => {
      if (!next.startsWith(done)) {
        throw new SpruftError('DATA_INVALID', `the chat template renders ${what} so that it does not extend the conversation before it; the assistant's replies cannot be told apart from the prompt`, this.options.where);
      }
      push(next.slice(done.length), train);
      done = next;
    };
    messages.forEach((m, i) => {
      if (m.role !== 'assistant') return;
      extend(this.render(messages.slice(0, i), true), false, `the prompt before message ${i + 1}`);
      extend(this.render(messages.slice(0, i + 1), false), true, `message ${i + 1}`);
    });
    extend(this.render(messages, false), false, 'the whole conversation');
    return out;
  }
}
