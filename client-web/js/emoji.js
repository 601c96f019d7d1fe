// @ts-check
// emoji.js — emoji for the composer's ":" autocomplete and the reaction picker. Asks
// the server's suggestion endpoint first; the small local catalogue below is used for
// autocomplete only when that endpoint is absent, and always as the picker's grid.

import { suggest, features } from './api.js';

// [emoji, shortcode, name]
export const CATALOGUE = [
  ['👍', 'thumbsup', 'thumbs up'], ['👎', 'thumbsdown', 'thumbs down'], ['❤️', 'heart', 'red heart'],
  ['😂', 'joy', 'face with tears of joy'], ['😄', 'smile', 'grinning face with smiling eyes'],
  ['😃', 'smiley', 'grinning face with big eyes'], ['😀', 'grinning', 'grinning face'], ['😊', 'blush', 'smiling face with smiling eyes'],
  ['🙂', 'slightly_smiling_face', 'slightly smiling face'], ['😉', 'wink', 'winking face'], ['😍', 'heart_eyes', 'smiling face with heart-eyes'],
  ['😘', 'kissing_heart', 'face blowing a kiss'], ['😎', 'sunglasses', 'smiling face with sunglasses'], ['🤔', 'thinking', 'thinking face'],
  ['😅', 'sweat_smile', 'grinning face with sweat'], ['😆', 'laughing', 'grinning squinting face'], ['🤣', 'rofl', 'rolling on the floor laughing'],
  ['😭', 'sob', 'loudly crying face'], ['😢', 'cry', 'crying face'], ['😡', 'rage', 'enraged face'], ['😱', 'scream', 'face screaming in fear'],
  ['😴', 'sleeping', 'sleeping face'], ['🙄', 'roll_eyes', 'face with rolling eyes'], ['😬', 'grimacing', 'grimacing face'],
  ['🤯', 'exploding_head', 'exploding head'], ['🥳', 'partying_face', 'partying face'], ['🥺', 'pleading_face', 'pleading face'],
  ['😇', 'innocent', 'smiling face with halo'], ['🤗', 'hugs', 'smiling face with open hands'], ['🤝', 'handshake', 'handshake'],
  ['🙏', 'pray', 'folded hands'], ['👏', 'clap', 'clapping hands'], ['🙌', 'raised_hands', 'raising hands'], ['👋', 'wave', 'waving hand'],
  ['👌', 'ok_hand', 'OK hand'], ['✌️', 'v', 'victory hand'], ['🤞', 'crossed_fingers', 'crossed fingers'], ['💪', 'muscle', 'flexed biceps'],
  ['👀', 'eyes', 'eyes'], ['🧠', 'brain', 'brain'], ['🔥', 'fire', 'fire'], ['✨', 'sparkles', 'sparkles'], ['⭐', 'star', 'star'],
  ['🌟', 'star2', 'glowing star'], ['💯', '100', 'hundred points'], ['🎉', 'tada', 'party popper'], ['🎊', 'confetti_ball', 'confetti ball'],
  ['🎂', 'birthday', 'birthday cake'], ['🎁', 'gift', 'wrapped gift'], ['🏆', 'trophy', 'trophy'], ['🚀', 'rocket', 'rocket'],
  ['✅', 'white_check_mark', 'check mark button'], ['✔️', 'heavy_check_mark', 'check mark'], ['❌', 'x', 'cross mark'],
  ['⚠️', 'warning', 'warning'], ['❓', 'question', 'question mark'], ['❗', 'exclamation', 'exclamation mark'], ['💡', 'bulb', 'light bulb'],
  ['📌', 'pushpin', 'pushpin'], ['📎', 'paperclip', 'paperclip'], ['📝', 'memo', 'memo'], ['📅', 'date', 'calendar'], ['⏰', 'alarm_clock', 'alarm clock'],
  ['⏳', 'hourglass_flowing_sand', 'hourglass not done'], ['🐛', 'bug', 'bug'], ['🔧', 'wrench', 'wrench'], ['🔨', 'hammer', 'hammer'],
  ['⚙️', 'gear', 'gear'], ['🔒', 'lock', 'locked'], ['🔑', 'key', 'key'], ['📈', 'chart_with_upwards_trend', 'chart increasing'],
  ['📉', 'chart_with_downwards_trend', 'chart decreasing'], ['💬', 'speech_balloon', 'speech balloon'], ['📣', 'mega', 'megaphone'],
  ['🔔', 'bell', 'bell'], ['📦', 'package', 'package'], ['🚢', 'ship', 'ship'], ['🚧', 'construction', 'construction'], ['🛑', 'stop_sign', 'stop sign'],
  ['☕', 'coffee', 'hot beverage'], ['🍕', 'pizza', 'pizza'], ['🍺', 'beer', 'beer mug'], ['🍻', 'beers', 'clinking beer mugs'],
  ['🍩', 'doughnut', 'doughnut'], ['🌮', 'taco', 'taco'], ['🍎', 'apple', 'red apple'], ['🌈', 'rainbow', 'rainbow'], ['☀️', 'sunny', 'sun'],
  ['🌧️', 'cloud_with_rain', 'cloud with rain'], ['❄️', 'snowflake', 'snowflake'], ['⚡', 'zap', 'high voltage'], ['🌍', 'earth_africa', 'globe'],
  ['🐶', 'dog', 'dog face'], ['🐱', 'cat', 'cat face'], ['🦄', 'unicorn', 'unicorn'], ['🐢', 'turtle', 'turtle'], ['🐙', 'octopus', 'octopus'],
  ['🦀', 'crab', 'crab'], ['🌱', 'seedling', 'seedling'], ['🌻', 'sunflower', 'sunflower'], ['💚', 'green_heart', 'green heart'],
  ['💙', 'blue_heart', 'blue heart'], ['💜', 'purple_heart', 'purple heart'], ['💛', 'yellow_heart', 'yellow heart'], ['🖤', 'black_heart', 'black heart'],
  ['💔', 'broken_heart', 'broken heart'], ['😐', 'neutral_face', 'neutral face'], ['😶', 'no_mouth', 'face without mouth'],
  ['🤐', 'zipper_mouth_face', 'zipper-mouth face'], ['🤷', 'shrug', 'person shrugging'], ['🤦', 'facepalm', 'person facepalming'],
  ['🙈', 'see_no_evil', 'see-no-evil monkey'], ['💀', 'skull', 'skull'], ['👻', 'ghost', 'ghost'], ['🤖', 'robot', 'robot'], ['👽', 'alien', 'alien'],
  ['💩', 'poop', 'pile of poo'], ['🎯', 'dart', 'bullseye'], ['🎵', 'musical_note', 'musical note'], ['🎮', 'video_game', 'video game'],
  ['💻', 'computer', 'laptop'], ['📱', 'iphone', 'mobile phone'], ['🖥️', 'desktop_computer', 'desktop computer'], ['☁️', 'cloud', 'cloud'],
  ['🏠', 'house', 'house'], ['✈️', 'airplane', 'airplane'], ['🚗', 'car', 'automobile'], ['⬆️', 'arrow_up', 'up arrow'], ['⬇️', 'arrow_down', 'down arrow'],
  ['➕', 'heavy_plus_sign', 'plus'], ['➖', 'heavy_minus_sign', 'minus'], ['🆗', 'ok', 'OK button'], ['🆕', 'new', 'NEW button'],
  ['😋', 'yum', 'face savoring food'], ['😤', 'triumph', 'face with steam from nose'], ['🥲', 'smiling_face_with_tear', 'smiling face with tear'],
  ['😏', 'smirk', 'smirking face'], ['🤩', 'star_struck', 'star-struck'], ['🫡', 'saluting_face', 'saluting face'], ['😌', 'relieved', 'relieved face'],
].map(([emoji, shortcode, name]) => ({ emoji, shortcode, name }));

export const QUICK = ['👍', '❤️', '😂', '🎉', '👀', '🙏', '✅', '🚀'];

export function searchLocal(query, limit = 8) {
  const q = query.toLowerCase().replace(/^:/, '');
  if (!q) return CATALOGUE.slice(0, limit);
  const starts = [];
  const contains = [];
  for (const e of CATALOGUE) {
    if (e.shortcode.startsWith(q)) starts.push(e);
    else if (e.shortcode.includes(q) || e.name.toLowerCase().includes(q)) contains.push(e);
  }
  return starts.concat(contains).slice(0, limit);
}

/** Autocomplete for ":pre": the server's suggestions, or the local list if the endpoint is absent. */
export async function completePrefix(ws, prefix, limit = 8) {
  if (features.emojiSuggest !== false) {
    try {
      return await suggest.emojiPrefix(ws, prefix, limit);
    } catch (e) {
      console.warn('emoji suggestions failed', e);
      return searchLocal(prefix, limit);
    }
  }
  return searchLocal(prefix, limit);
}

/** Suggested reactions for a message's text (empty when the server has no suggestions). */
export async function suggestForText(ws, text, limit = 8) {
  if (features.emojiSuggest === false) return [];
  try {
    return await suggest.emojiText(ws, text || '', limit);
  } catch {
    return [];
  }
}

const byEmoji = new Map(CATALOGUE.map((e) => [e.emoji, e]));
export function emojiName(emoji) {
  const e = byEmoji.get(emoji) || byEmoji.get(`${emoji}\uFE0F`) || byEmoji.get(emoji.replace(/\uFE0F/g, ''));
  return e ? `:${e.shortcode}:` : emoji;
}
